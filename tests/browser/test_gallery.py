"""A person's path through the gallery page, at a phone's size and a desktop's: upload a
batch (a HEIC, photos, a text file, a broken JPEG), watch it, browse, view, page through,
describe, delete, reload."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, Screen
from tests.corpus import CORPUS
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser

PHOTOS = [
    "H02_iphone8_12mp.heic",
    "S01_canon_sd300_2mp.jpg",
    "W02_webp_tree_1024.webp",
    "O02_canon_1000d_10mp_o6.jpg",
]
RECORDER = """() => {
  // Every state each upload passes through, and whether its bar ever stood part-way.
  window.__uploads = {};
  const scan = () => {
    for (const item of document.querySelectorAll("li.upload")) {
      const name = item.querySelector(".upload-name").textContent;
      const seen = (window.__uploads[name] ||= { states: [], partial: false });
      if (seen.states.at(-1) !== item.dataset.state) seen.states.push(item.dataset.state);
      const bar = item.querySelector("progress");
      const value = Number(bar.getAttribute("value"));
      if (bar.hasAttribute("value") && value > 0 && value < 100) seen.partial = true;
    }
  };
  new MutationObserver(scan).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-state", "value"],
  });
}"""
UPLOAD_BYTES_PER_SECOND = 4_000_000
"""Slow enough that every bar is seen part-way, fast enough to keep the test short."""


def _api_photos(server: Server) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/photos", params={"limit": 200}, timeout=30)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _throttle_uploads(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": UPLOAD_BYTES_PER_SECOND,
        },
    )


def _upload_item(page: Page, name: str) -> Locator:
    return page.locator("li.upload").filter(has=page.locator(".upload-name", has_text=name))


def _path(url: str) -> str:
    return urlsplit(url).path


def _grid_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all("#grid > li", "els => els.map(e => e.dataset.id)")
    return ids


def _swipe(page: Page, screen: Screen, towards_next: bool) -> None:
    """A horizontal swipe over the photo: a finger on a phone, a mouse drag on a desktop."""
    box = page.locator("[data-part=stage]").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] * 0.75
    start = box["x"] + box["width"] * (0.7 if towards_next else 0.3)
    end = start + (-200 if towards_next else 200)
    steps = [start + (end - start) * i / 6 for i in range(7)]
    if screen.touch:
        cdp = page.context.new_cdp_session(page)
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": start, "y": y}]},
        )
        for x in steps[1:]:
            cdp.send(
                "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()
    else:
        page.mouse.move(start, y)
        page.mouse.down()
        for x in steps[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def _in_order(states: list[str], expected: list[str]) -> bool:
    position = 0
    for state in states:
        if position < len(expected) and state == expected[position]:
            position += 1
    return position == len(expected)


def _image_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
    )


@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=lambda s: s.name)
def test_upload_browse_view_describe_delete(
    server: Server, open_page: Any, screen: Screen, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"a text file that calls itself a JPEG\n" * 20)
    page: Page = open_page(server, screen)
    expect(page.get_by_text("No photos yet")).to_be_visible()
    expect(page.locator("#sign-in")).to_be_hidden()

    # --- upload a batch: four photos, a text file, a broken "JPEG"
    page.evaluate(RECORDER)
    _throttle_uploads(page)
    page.locator("#picker").set_input_files([CORPUS / name for name in PHOTOS] + [notes, broken])
    expect(page.locator("li.upload")).to_have_count(6)
    refused = _upload_item(page, "notes.txt")
    expect(refused).to_have_attribute("data-state", "error")
    expect(refused).to_contain_text("Not an image darkroom accepts")
    for name in PHOTOS:
        expect(_upload_item(page, name)).to_have_attribute("data-state", "done", timeout=90_000)
    _image_loaded(page, "li.upload .upload-thumb img")
    expect(page.locator("li.upload .upload-thumb img")).to_have_count(len(PHOTOS))
    failed = _upload_item(page, "broken.jpg")
    expect(failed).to_have_attribute("data-state", "error", timeout=30_000)
    expect(failed).to_contain_text("Could not be processed: not an image")
    seen = page.evaluate("window.__uploads")
    for name in PHOTOS:
        assert _in_order(seen[name]["states"], ["uploading", "processing", "done"]), seen[name]
    assert any(seen[name]["partial"] for name in PHOTOS), seen

    # --- the grid: newest first, as the API lists them, each tile from the right variant
    photos = _api_photos(server)
    assert len(photos) == len(PHOTOS) + 1
    by_id = {p["id"]: p for p in photos}
    expect(page.locator("#grid > li")).to_have_count(len(photos))
    assert _grid_ids(page) == [p["id"] for p in photos]
    broken_id = next(p["id"] for p in photos if p["filename"] == "broken.jpg")
    expect(page.locator(f'#grid > li[data-id="{broken_id}"]')).to_contain_text(
        "Could not be processed"
    )
    for tile in page.locator("#grid > li[data-status=ready]").all():
        photo = by_id[str(tile.get_attribute("data-id"))]
        img = tile.locator("img")
        expect(img).to_have_attribute("alt", photo["filename"])
        expect(img).to_have_attribute("loading", "lazy")
        tile.scroll_into_view_if_needed()
        expect(tile).to_have_class(re.compile(r"\bloaded\b"))
        # by path: the signature and expiry of a URL change when its 15-minute window rolls
        widths = {_path(v["url"]): v["width"] for v in photo["variants"].values()}
        assert len(str(img.get_attribute("srcset")).split(",")) >= 4
        chosen = _path(img.evaluate("i => i.currentSrc"))
        assert chosen in widths and widths[chosen] <= 640, (chosen, widths)
    # every ready photo has a blurhash from the API, painted under its image
    ready = [p for p in photos if p["status"] == "ready"]
    assert all(p["blurhash"] for p in ready)
    assert page.locator("#grid > li[data-status=ready] canvas.placeholder").count() == len(ready)

    # --- the viewer: the newest photo, then through the rest by keys, swipes and buttons
    names = [p["filename"] for p in photos]
    page.locator("#grid > li button").first.click()
    viewer = page.locator("#viewer")
    title = viewer.locator("[data-part=title]")
    expect(viewer).to_be_visible()
    expect(title).to_have_text(names[0])
    expect(viewer.locator("[data-part=close]")).to_be_focused()
    expect(viewer.locator("[data-part=position]")).to_have_text(f"Photo 1 of {len(photos)}")
    expect(viewer.locator("[data-part=prev]")).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("ArrowRight")
    expect(title).to_have_text(names[1])
    _swipe(page, screen, towards_next=True)
    expect(title).to_have_text(names[2])
    page.keyboard.press("ArrowLeft")
    expect(title).to_have_text(names[1])
    _swipe(page, screen, towards_next=False)
    expect(title).to_have_text(names[0])
    for index in range(1, len(names)):
        viewer.locator("[data-part=next]").click()
        expect(title).to_have_text(names[index])
    expect(viewer.locator("[data-part=next]")).to_have_attribute("aria-disabled", "true")

    # the HEIC: large variant, date taken, camera, original to download
    heic = next(p for p in photos if p["filename"] == PHOTOS[0])
    while title.text_content() != heic["filename"]:
        page.keyboard.press("ArrowLeft")
    image = viewer.locator("[data-part=image]")
    expect(image).to_have_attribute("alt", heic["filename"])
    expect(viewer.locator("[data-part=stage]")).not_to_have_class(re.compile("loading"))
    _image_loaded(page, "#viewer [data-part=image]")
    shown = _path(image.evaluate("i => i.currentSrc"))
    assert shown in {_path(v["url"]) for v in heic["variants"].values()}
    facts = viewer.locator("[data-part=facts]")
    expect(facts).to_contain_text("Camera")
    expect(facts).to_contain_text("iPhone 8")
    expect(facts).to_contain_text("Taken")
    expect(facts).to_contain_text("4032 × 3024")
    download = viewer.locator("[data-part=download]")
    expect(download).to_have_attribute("download", heic["filename"])
    original = httpx.get(str(download.get_attribute("href")), timeout=30)
    assert original.content == (CORPUS / PHOTOS[0]).read_bytes()

    # Escape closes; focus goes back to the photo's tile
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator(f'#grid > li[data-id="{heic["id"]}"] button')).to_be_focused()

    # --- describe the tree in place; Escape in the editor leaves the editor only
    tree = next(p for p in photos if p["filename"] == PHOTOS[2])
    page.locator(f'#grid > li[data-id="{tree["id"]}"] button').click()
    viewer.get_by_role("button", name="Add a description").click()
    editor = viewer.get_by_label("Description")
    expect(editor).to_be_focused()
    editor.fill("draft")
    page.keyboard.press("Escape")
    expect(editor).to_be_hidden()
    expect(viewer).to_be_visible()
    viewer.get_by_role("button", name="Add a description").click()
    editor.fill("A cherry tree in full bloom")
    viewer.get_by_role("button", name="Save").click()
    expect(viewer.locator("[data-part=description]")).to_have_text("A cherry tree in full bloom")
    expect(viewer.get_by_role("button", name="Edit description")).to_be_focused()
    expect(viewer.locator("[data-part=image]")).to_have_attribute(
        "alt", "A cherry tree in full bloom"
    )
    tree_tile = page.locator(f'#grid > li[data-id="{tree["id"]}"] img')
    expect(tree_tile).to_have_attribute("alt", "A cherry tree in full bloom")

    # --- delete the Canon photo, with a confirmation that Escape or "Keep it" dismisses
    canon = next(p for p in photos if p["filename"] == PHOTOS[1])
    while title.text_content() != canon["filename"]:
        page.keyboard.press(
            "ArrowRight"
            if names.index(title.text_content() or "") < names.index(canon["filename"])
            else "ArrowLeft"
        )
    viewer.get_by_role("button", name="Delete…").click()
    expect(viewer.get_by_role("button", name="Keep it")).to_be_focused()
    page.keyboard.press("Escape")
    expect(viewer.get_by_role("button", name="Delete photo")).to_be_hidden()
    expect(viewer).to_be_visible()
    viewer.get_by_role("button", name="Delete…").click()
    viewer.get_by_role("button", name="Delete photo").click()
    expect(page.locator(f'#grid > li[data-id="{canon["id"]}"]')).to_have_count(0)
    expect(page.locator("#grid > li")).to_have_count(len(photos) - 1)
    expect(title).not_to_have_text(canon["filename"])
    expect(viewer.locator("[data-part=position]")).to_contain_text(f"of {len(photos) - 1}")
    assert httpx.get(f"{server.url}/photos/{canon['id']}", timeout=30).status_code == 404
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # --- reload: the state is the server's
    page.reload()
    page.wait_for_selector("html[data-ready]")
    remaining = _api_photos(server)
    assert [p["filename"] for p in remaining] == [n for n in names if n != canon["filename"]]
    expect(page.locator("#grid > li")).to_have_count(len(remaining))
    assert _grid_ids(page) == [p["id"] for p in remaining]
    expect(tree_tile).to_have_attribute("alt", "A cherry tree in full bloom")
    expect(page.locator("li.upload")).to_have_count(0)
