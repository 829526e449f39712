"""The grid's pages, the size of image its tiles ask for, blurhash placeholders, the page
served under a path prefix with photos dropped and pasted onto it, and a folder dropped."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import DESKTOP, PHONE, SEED, Screen, jpeg
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser

LIMIT = 200_000
BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
"""The example of blurha.sh."""
GIVE = """async ([kind, files]) => {
  // Files dragged onto the page and dropped, or pasted: what a person's browser would send.
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  const target = document.querySelector("main");
  if (kind === "paste") {
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true }));
    return;
  }
  for (const type of kind === "drag" ? ["dragenter", "dragover"] : ["drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def _listed(server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx.get(
        f"{server.url}/photos", params={"limit": 200}, timeout=30
    ).json()["items"]
    return items


def _is_list(url: str) -> bool:
    return urlsplit(url).path.endswith("/photos")


def test_the_grid_loads_page_after_page_newest_first(seeded: Server, open_page: Any) -> None:
    """Two photos a page: the end of the grid in view asks for the next, until the last."""
    asked: list[dict[str, list[str]]] = []

    def two_a_page(route: Route) -> None:
        parts = urlsplit(route.request.url)
        query = parse_qs(parts.query)
        asked.append(query)
        query["limit"] = ["2"]
        url = parts._replace(query="&".join(f"{k}={v[0]}" for k, v in query.items())).geturl()
        route.continue_(url=url)

    page: Page = open_page(seeded, DESKTOP, before=lambda p: p.route(_is_list, two_a_page))
    listed = _listed(seeded)
    assert len(listed) == len(SEED)
    expect(page.locator("#grid > li")).to_have_count(len(SEED))
    ids = page.eval_on_selector_all("#grid > li", "els => els.map(e => e.dataset.id)")
    assert ids == [p["id"] for p in listed]
    assert len(asked) == math.ceil(len(SEED) / 2)
    assert "cursor" not in asked[0] and all("cursor" in q for q in asked[1:])
    expect(page.get_by_role("button", name="Load more photos")).to_be_hidden()
    described = next(p for p in listed if p["description"])
    expect(page.locator(f'#grid > li[data-id="{described["id"]}"] img')).to_have_attribute(
        "alt", described["description"]
    )

    # the viewer pages through all of them
    page.locator("#grid > li button").first.click()
    for _ in range(len(SEED) - 1):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer [data-part=title]")).to_have_text(listed[-1]["filename"])
    expect(page.locator("#viewer [data-part=position]")).to_have_text(
        f"Photo {len(SEED)} of {len(SEED)}"
    )


@pytest.mark.parametrize("width", [320, 375, 700, 900, 1100, 1280, 1600])
def test_tiles_ask_for_images_as_wide_as_drawn(seeded: Server, open_page: Any, width: int) -> None:
    """The width `sizes` gives each tile's image is the width the grid draws it (wider for a
    landscape photo covering its square), so `srcset` picks no larger variant than needed."""
    page: Page = open_page(seeded, Screen("screen", width, 800, touch=False))
    tiles = page.locator("#grid > li")
    expect(tiles).to_have_count(len(SEED))
    for tile in tiles.all():
        tile.scroll_into_view_if_needed()
        expect(tile).to_have_class("tile loaded")
    # An image picked from `srcset` by width has the `sizes` width as its natural width.
    found = page.eval_on_selector_all(
        "#grid img",
        """images => images.map((img) => {
             const cover = Math.max(1, img.getAttribute("width") / img.getAttribute("height"));
             const drawn = img.getBoundingClientRect().width * cover;
             return [img.alt, img.naturalWidth, drawn];
           })""",
    )
    for name, asked, drawn in found:
        # Within rounding, and a scroll bar (part of the width `sizes` is reckoned in)
        assert drawn * 0.97 <= asked <= drawn * 1.05 + 2, (name, asked, drawn)


@pytest.mark.parametrize("signed_in", [False, True], ids=["anyone", "with-a-token"])
def test_the_page_asks_for_its_modules_and_config_at_once(
    server: Server, open_page: Any, signed_in: bool
) -> None:
    """The page names every module it imports and the /config it asks for first, so the
    browser asks for them as it reads the page: found one import at a time, each level of
    modules, then /config, waited a round trip for the one before. /config is asked for
    once, the page's own request (with a token's Authorization header too) taking the
    answer already on its way."""
    asked: list[str] = []

    def before(page: Page) -> None:
        if signed_in:
            page.add_init_script(
                'localStorage.setItem("darkroom.tokens", '
                'JSON.stringify({access_token: "token", refresh_token: "again"}))'
            )
        page.on("request", lambda request: asked.append(urlsplit(request.url).path))

    page: Page = open_page(server, DESKTOP, before=before)
    found = page.evaluate(
        """() => performance.getEntriesByType("resource")
             .map((entry) => [new URL(entry.name).pathname, entry.initiatorType])"""
    )
    modules = {path: how for path, how in found if path.endswith(".js")}
    # Chromium says "script" of a module found among another's imports ("other" of one the
    # page named).
    assert modules.pop("/app.js") == "script" and len(modules) > 5
    assert "script" not in modules.values(), modules
    assert [how for path, how in found if path == "/config"] == ["link"]
    assert asked.count("/config") == 1


def test_blurhash_placeholders_until_the_images_arrive(seeded: Server, open_page: Any) -> None:
    """The API has no blurhash yet: one is added to its answer here, and the images are held
    back until the placeholders have been seen. A malformed hash is no placeholder."""
    held: list[Route] = []

    def with_blurhash(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        for index, item in enumerate(body["items"]):
            item["blurhash"] = "not a hash" if index == 0 else BLURHASH
        route.fulfill(response=response, body=json.dumps(body))

    def hold(route: Route) -> None:
        held.append(route)

    def before(page: Page) -> None:
        page.route(_is_list, with_blurhash)
        page.route("**/files/variants/**", hold)

    page: Page = open_page(seeded, PHONE, before=before)
    tiles = page.locator("#grid > li")
    expect(tiles).to_have_count(len(SEED))
    expect(tiles.first.locator("canvas")).to_have_count(0)
    expect(page.locator("#grid > li canvas")).to_have_count(len(SEED) - 1)
    colours = page.evaluate(
        """() => [...document.querySelectorAll("#grid canvas")].map((c) => {
             const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
             return new Set(Array.from({ length: data.length / 4 }, (_, i) =>
               data.slice(i * 4, i * 4 + 3).join())).size;
           })"""
    )
    assert all(count > 20 for count in colours), colours  # a blur of colours, not a blank
    expect(page.locator("#grid > li.loaded")).to_have_count(0)
    page.unroute("**/files/variants/**")
    for route in held:
        route.continue_()
    for tile in tiles.all():
        tile.scroll_into_view_if_needed()
        expect(tile).to_have_class("tile loaded")


@pytest.fixture
def small_limit(tmp_path: Path) -> Iterator[Server]:
    """A server that takes originals up to `LIMIT` bytes."""
    running = Server(tmp_path / "data", env={"DARKROOM_MAX_UPLOAD_BYTES": str(LIMIT)})
    running.start()
    yield running
    running.stop()


def test_under_a_path_prefix_with_drop_and_paste(small_limit: Server, open_page: Any) -> None:
    """Served at /gallery/ (as behind CloudFront with a path), the page finds the API by
    relative paths; photos dropped or pasted are uploaded like picked ones, and one over the
    server's limit (from /config) is refused before it is sent."""
    server = small_limit
    paths: list[str] = []

    def listen(page: Page) -> None:
        page.on("request", lambda request: paths.append(urlsplit(request.url).path))

    page: Page = open_page(server, DESKTOP, prefix="/gallery", before=listen)
    red = ("red.jpg", "image/jpeg", base64.b64encode(jpeg((200, 30, 30))).decode())
    blue = ("", "image/jpeg", base64.b64encode(jpeg((30, 30, 200))).decode())

    page.evaluate(GIVE, ["drag", [red]])
    expect(page.locator("#drop-overlay")).to_be_visible()
    page.evaluate(GIVE, ["drop", [red]])
    expect(page.locator("#drop-overlay")).to_be_hidden()
    item = page.locator("li.upload").filter(has_text="red.jpg")
    expect(item).to_have_attribute("data-state", "done")

    page.evaluate(GIVE, ["paste", [blue]])
    pasted = page.locator("li.upload").filter(has_text="pasted image")
    expect(pasted).to_have_attribute("data-state", "done")

    page.evaluate(GIVE, ["drop", [("red again.jpg", *red[1:])]])
    again = page.locator("li.upload").filter(has_text="red again.jpg")
    expect(again).to_have_attribute("data-state", "done")
    expect(again).to_contain_text("Already in the gallery")

    big = ("big.jpg", "image/jpeg", base64.b64encode(b"\xff\xd8\xff" + bytes(2 * LIMIT)).decode())
    page.evaluate(GIVE, ["drop", [big]])
    too_large = page.locator("li.upload").filter(has_text="big.jpg")
    expect(too_large).to_have_attribute("data-state", "error")
    expect(too_large).to_contain_text("Too large: 391 KB; the limit is 195 KB.")
    # rounded, the size and the limit would read alike
    just_over = ("just over.jpg", "image/jpeg", base64.b64encode(bytes(LIMIT + 1)).decode())
    page.evaluate(GIVE, ["drop", [just_over]])
    expect(page.locator("li.upload").filter(has_text="just over.jpg")).to_contain_text(
        "Too large: 200,001 bytes; the limit is 200,000 bytes."
    )

    expect(page.locator("#grid > li")).to_have_count(2)
    # the API keeps a record of the second copy; the page does not show it as a photo
    assert sorted(p["status"] for p in _listed(server)) == ["duplicate", "ready", "ready"]
    assert "/gallery/uploads" in paths and "/gallery/config" in paths
    assert not any(p in ("/config", "/photos", "/uploads") for p in paths), paths

    page.get_by_role("button", name="Clear finished").click()
    expect(page.locator("#uploads")).to_be_hidden()


def test_a_folder_dropped_adds_the_photos_in_it(
    server: Server, open_page: Any, tmp_path: Path
) -> None:
    """A folder dragged from the desktop (by Chromium's own drag and drop, real files) adds
    the photos in it and in its subfolders, hidden ones left out, beside a photo dropped with
    it; where the folder was refused as "not an image" and none of its photos added."""
    folder = tmp_path / "Holiday"
    (folder / "day 2").mkdir(parents=True)
    (folder / ".thumbnails").mkdir()
    (folder / "beach.jpg").write_bytes(jpeg((200, 180, 90)))
    (folder / "day 2" / "hills.jpg").write_bytes(jpeg((40, 160, 60)))
    (folder / ".hidden.jpg").write_bytes(jpeg((1, 1, 1)))
    (folder / ".thumbnails" / "beach.jpg").write_bytes(jpeg((2, 2, 2)))
    loose = tmp_path / "loose.jpg"
    loose.write_bytes(jpeg((90, 40, 200)))
    page: Page = open_page(server, DESKTOP)
    expect(page.get_by_text("No photos yet")).to_be_visible()

    cdp = page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(folder), str(loose)], "dragOperationsMask": 1}
    for kind in ["dragEnter", "dragOver", "drop"]:
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": 400, "y": 400, "data": data})
    cdp.detach()

    rows = page.locator("li.upload")
    expect(rows).to_have_count(3)
    for name in ["beach.jpg", "hills.jpg", "loose.jpg"]:
        row = rows.filter(has=page.locator(".upload-name", has_text=name))
        expect(row).to_have_attribute("data-state", "done")
    expect(page.locator("#grid > li[data-status=ready]")).to_have_count(3)
    assert sorted(p["filename"] for p in _listed(server)) == ["beach.jpg", "hills.jpg", "loose.jpg"]


def test_presses_made_while_the_next_page_loads_all_count(seeded: Server, open_page: Any) -> None:
    """Two photos a page, the second page held back: → pressed twice on the last photo
    loaded shows the photo two further on once the page comes, where both presses showed
    the next one."""
    held: list[tuple[Route, str]] = []
    holding = [True]

    def two_a_page(route: Route) -> None:
        parts = urlsplit(route.request.url)
        query = parse_qs(parts.query) | {"limit": ["2"]}
        url = parts._replace(query="&".join(f"{k}={v[0]}" for k, v in query.items())).geturl()
        if "cursor" in query and holding[0]:
            held.append((route, url))
        else:
            route.continue_(url=url)

    page: Page = open_page(seeded, DESKTOP, before=lambda p: p.route(_is_list, two_a_page))
    listed = _listed(seeded)
    expect(page.locator("#grid > li")).to_have_count(2)
    page.locator(f'#grid > li[data-id="{listed[1]["id"]}"] button').click()
    title = page.locator("#viewer [data-part=title]")
    expect(title).to_have_text(listed[1]["filename"])
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    holding[0] = False
    for route, url in held:
        route.continue_(url=url)
    expect(title).to_have_text(listed[3]["filename"])
    expect(page.locator("#viewer [data-part=position]")).to_contain_text("Photo 4 of ")
