"""The page with a server that is busy or away for a while: uploads over the rate limit wait
their turn, photos are followed through a restart and let go once deleted, and a page whose
/config failed can ask again."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import (
    APIResponse,
    FilePayload,
    Locator,
    Page,
    Request,
    Response,
    Route,
    expect,
)

from tests.browser.conftest import DESKTOP, SEED, jpeg
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser

RATE = 20
"""Uploads a minute the server takes from one client: a batch of more waits its turn."""
RECORDER = """() => {
  // Every state each upload passes through, with what its row says.
  window.__states = {};
  new MutationObserver(() => {
    for (const item of document.querySelectorAll("li.upload")) {
      const seen = (window.__states[item.querySelector(".upload-name").textContent] ||= []);
      const state = `${item.dataset.state}: ${item.querySelector(".upload-status").textContent}`;
      if (seen.at(-1) !== state) seen.push(state);
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true,
                              attributes: true });
}"""
NO_WORKERS = {"DARKROOM_WORKERS": "0"}
"""A server that processes nothing: its photos stay pending until it restarts with workers
(`env` cleared)."""


def _pending(server: Server, name: str, shade: int) -> str:
    """A photo uploaded and not processed yet (each `shade` gives other bytes)."""
    answer = httpx.post(
        f"{server.url}/upload",
        params={"wait": "false"},
        files={"file": (name, jpeg((shade, 90, 160)))},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    photo_id: str = answer.json()["id"]
    return photo_id


def _uploaded(server: Server, names: list[str], size: tuple[int, int] = (640, 480)) -> list[str]:
    """The ids of photos of those names, each of its own colour, uploaded and processed in
    turn (the first is the oldest)."""
    ids = []
    for shade, name in enumerate(names):
        answer = httpx.post(
            f"{server.url}/upload",
            files={"file": (name, jpeg((shade * 80, 60, 90), size))},
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def _picked(page: Page, name: str, colour: tuple[int, int, int]) -> Locator:
    """The upload row of a JPEG of `colour` picked as `name`."""
    picked: FilePayload = {"name": name, "mimeType": "image/jpeg", "buffer": jpeg(colour)}
    page.locator("#picker").set_input_files([picked])
    return page.locator("li.upload").filter(has_text=name)


STATUSES = re.compile(r"/photos/status\?ids=")
"""The page's one request a round for the photos it follows."""


def _is_status(request: Request) -> bool:
    return bool(STATUSES.search(request.url))


def _reports_gone(photo_id: str) -> Callable[[Response], bool]:
    """An answer to the page's status request saying `photo_id` is not there (any more)."""
    return lambda response: (
        _is_status(response.request) and response.ok and photo_id in response.json()["missing"]
    )


def test_a_batch_over_the_upload_rate_waits_its_turn(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The server answers the uploads past its rate 429 with Retry-After: those rows say they
    wait, then go on; none fails."""
    server = server_with({"DARKROOM_RATE_UPLOAD": str(RATE)})
    page: Page = open_page(server, DESKTOP)
    page.evaluate(RECORDER)
    count = RATE + 4
    files: list[FilePayload] = [
        {"name": f"IMG_{i:04d}.jpg", "mimeType": "image/jpeg", "buffer": jpeg((i * 9, 40, 99))}
        for i in range(count)
    ]
    page.locator("#picker").set_input_files(files)
    rows = page.locator("li.upload")
    expect(rows).to_have_count(count)
    for row in rows.all():
        expect(row).to_have_attribute("data-state", "done", timeout=120_000)
    expect(rows.filter(has_text="Added")).to_have_count(count)
    states: dict[str, list[str]] = page.evaluate("window.__states")
    waited = [name for name, seen in states.items() if any("trying again in" in s for s in seen)]
    assert waited, states
    assert all(states[name][-1] == "done: Added" for name in waited), states
    listed = httpx.get(f"{server.url}/photos", params={"limit": 100}, timeout=30).json()
    assert [p["status"] for p in listed["items"]] == ["ready"] * count


def test_processing_is_followed_through_a_restart(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """A tile still processing when the page loaded and an upload being processed are both
    followed while the server is away, and show the photo once it is back and done."""
    server = server_with(NO_WORKERS)
    listed = _pending(server, "listed.jpg", 10)
    page: Page = open_page(server, DESKTOP)
    tile = page.locator(f'#grid > li[data-id="{listed}"]')
    expect(tile).to_contain_text("Processing…")
    row = _picked(page, "picked.jpg", (9, 99, 9))
    expect(row).to_have_attribute("data-state", "processing")

    with page.expect_event("requestfailed", _is_status):
        server.stop()
    server.env = {}
    server.start()
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("Added")
    expect(tile).to_have_attribute("data-status", "ready")
    expect(page.locator("#grid > li[data-status=ready]")).to_have_count(2)


def test_a_photo_deleted_while_processing_is_let_go(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Deleted in the viewer or elsewhere, a photo being followed leaves the grid, and its
    status told as missing is no error."""
    server = server_with(NO_WORKERS)
    first = _pending(server, "first.jpg", 20)
    second = _pending(server, "second.jpg", 30)
    page: Page = open_page(server, DESKTOP)
    expect(page.locator("#grid > li")).to_have_count(2)

    page.locator(f'#grid > li[data-id="{first}"] button').click()
    viewer = page.get_by_role("dialog")
    with page.expect_response(_reports_gone(first)):
        viewer.get_by_role("button", name="Delete…").click()
        viewer.get_by_role("button", name="Delete photo").click()
    expect(page.locator(f'#grid > li[data-id="{first}"]')).to_have_count(0)

    with page.expect_response(_reports_gone(second)):
        assert httpx.delete(f"{server.url}/photos/{second}", timeout=30).status_code == 204
    expect(page.locator("#grid > li")).to_have_count(0)


def test_a_photo_found_gone_while_the_viewer_deletes_it_leaves_the_next_shown(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Following a photo may hear it is gone (missing) before the answer to the viewer's own
    deletion comes: the viewer then shows the next photo all the same."""
    server = server_with(NO_WORKERS)
    older = _pending(server, "older.jpg", 40)
    _pending(server, "newer.jpg", 50)
    page: Page = open_page(server, DESKTOP)
    expect(page.locator("#grid > li")).to_have_count(2)
    held: list[tuple[Route, APIResponse]] = []

    def hold_deletion(route: Route) -> None:
        if route.request.method == "DELETE":
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route(f"**/photos/{older}", hold_deletion)
    page.locator(f'#grid > li[data-id="{older}"] button').click()
    viewer = page.get_by_role("dialog")
    viewer.get_by_role("button", name="Delete…").click()
    with page.expect_response(_reports_gone(older)):
        viewer.get_by_role("button", name="Delete photo").click()
    expect(page.locator(f'#grid > li[data-id="{older}"]')).to_have_count(0)
    ((route, answer),) = held
    route.fulfill(response=answer)
    expect(viewer).to_contain_text("newer.jpg")
    expect(page.locator("#grid > li")).to_have_count(1)


def test_the_viewer_deleting_a_photo_says_so_once(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The viewer's own deletion is said as such, and only once: not first taken for one made
    elsewhere as the photo leaves the gallery."""
    server = server_with(NO_WORKERS)
    older = _pending(server, "older.jpg", 40)
    _pending(server, "newer.jpg", 50)
    page: Page = open_page(server, DESKTOP)
    expect(page.locator("#grid > li")).to_have_count(2)
    page.locator(f'#grid > li[data-id="{older}"] button').click()
    viewer = page.get_by_role("dialog")
    page.evaluate(
        """() => {
          window.said = [];
          const region = document.querySelector("dialog[open] [data-announce]");
          new MutationObserver(() => region.textContent && window.said.push(region.textContent))
            .observe(region, { childList: true, characterData: true, subtree: true });
        }"""
    )
    viewer.get_by_role("button", name="Delete…").click()
    viewer.get_by_role("button", name="Delete photo").click()
    expect(viewer.locator("[data-announce]")).to_have_text("older.jpg deleted.")
    expect(viewer).to_contain_text("newer.jpg")
    assert page.evaluate("window.said") == ["older.jpg deleted."]


def test_a_page_whose_config_failed_asks_again(seeded: Server, open_page: Any) -> None:
    """A proxy's 502 for /config: the page says so and offers no upload, until "Try again"
    gets an answer."""
    asked: list[Route] = []

    def bad_gateway_first(route: Route) -> None:
        asked.append(route)
        if len(asked) == 1:
            route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>")
        else:
            route.continue_()

    page: Page = open_page(
        seeded, DESKTOP, before=lambda p: p.route("**/config", bad_gateway_first), ready=False
    )
    expect(page.locator("#gallery-error")).to_contain_text("darkroom could not be reached")
    add = page.get_by_role("button", name="Add photos")
    expect(add).to_be_hidden()
    page.get_by_role("button", name="Try again").click()
    page.wait_for_selector("html[data-ready]")
    expect(add).to_be_visible()
    expect(page.locator("#gallery-error")).to_be_hidden()
    expect(page.locator("#grid > li")).to_have_count(len(SEED))
    expect(page.locator("#gallery")).to_be_focused()


def test_a_server_defect_is_said_not_retried_forever(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """A 500 answers the same each time: the upload row says what the server said, where a
    row retrying it would stay "Processing…". (A server of its own: the seeded one is
    shared, and keeps what is uploaded.)"""
    answered: list[Route] = []

    def defect(route: Route) -> None:
        answered.append(route)
        body = '{"error": "internal_error", "message": "darkroom could not answer"}'
        route.fulfill(status=500, content_type="application/json", body=body)

    server = server_with({})
    page: Page = open_page(server, DESKTOP, before=lambda p: p.route(STATUSES, defect))
    row = _picked(page, "defect.jpg", (7, 7, 7))
    expect(row).to_have_attribute("data-state", "error")
    expect(row).to_contain_text("darkroom could not answer")
    assert len(answered) == 1


def _is_transfer(request: Request) -> bool:
    """The upload's own bytes, sent where its ticket says."""
    return request.method == "PUT" and "/files/" in request.url


def test_an_upload_cut_off_is_sent_again(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The connection drops while a file is sent: its row says so, sends it again to the same
    ticket, and the photo is added once, with nothing left half made."""
    cut: list[str] = []

    def cut_first(route: Route) -> None:
        if _is_transfer(route.request) and not cut:
            cut.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    server = server_with({})
    page: Page = open_page(server, DESKTOP, before=lambda p: p.route("**/files/**", cut_first))
    page.evaluate(RECORDER)
    row = _picked(page, "dropped.jpg", (120, 30, 60))
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("Added")
    seen: list[str] = page.evaluate("window.__states")["dropped.jpg"]
    assert any(s.startswith("waiting: The upload was cut off; trying again in") for s in seen), seen
    listed = httpx.get(f"{server.url}/photos", timeout=30).json()["items"]
    assert [p["status"] for p in listed] == ["ready"]
    assert len(cut) == 1


def test_an_upload_whose_answer_was_lost_is_not_sent_twice(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The bytes reach the store and the connection drops before its answer: sent again,
    the store says it has them already (409), and the photo is added, not given up on."""
    lost: list[str] = []

    def lose_first_answer(route: Route) -> None:
        if _is_transfer(route.request) and not lost:
            lost.append(route.fetch().status_text)
            route.abort("connectionreset")
        else:
            route.continue_()

    server = server_with({})
    page: Page = open_page(
        server, DESKTOP, before=lambda p: p.route("**/files/**", lose_first_answer)
    )
    row = _picked(page, "stored.jpg", (60, 30, 120))
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("Added")
    assert lost == ["OK"]
    listed = httpx.get(f"{server.url}/photos", timeout=30).json()["items"]
    assert [p["status"] for p in listed] == ["ready"]


def test_an_upload_that_keeps_failing_can_be_tried_again(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """A store away for longer than the page resends: the row fails with a "Try again" button,
    which, once the store is back, adds the photo. The tickets given up on are removed."""
    away = [True]
    tries: list[str] = []

    def store_away(route: Route) -> None:
        if _is_transfer(route.request) and away[0]:
            tries.append(route.request.url)
            route.fulfill(status=503, content_type="text/plain", body="")
        else:
            route.continue_()

    server = server_with({})
    page: Page = open_page(server, DESKTOP, before=lambda p: p.route("**/files/**", store_away))
    row = _picked(page, "flaky.jpg", (30, 120, 60))
    again = row.get_by_role("button", name="Try again to upload flaky.jpg")
    expect(row).to_have_attribute("data-state", "error", timeout=30_000)
    expect(row).to_contain_text("503")
    assert len(tries) == 4, tries
    away[0] = False
    again.click()
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("Added")
    expect(again).to_have_count(0)
    listed = httpx.get(f"{server.url}/photos", timeout=30).json()["items"]
    assert [p["status"] for p in listed] == ["ready"]


def test_an_upload_tried_again_is_not_told_of_as_failed(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Of two files, one keeps failing while the other is still being sent; tried again, it
    is added: once both are in, the page says two were added, and none failed."""
    away = [True]
    names: dict[str, str] = {}
    held: list[Route] = []

    def name_tickets(route: Route) -> None:
        answer = route.fetch()
        asked = route.request.post_data_json or {}
        names[answer.json()["key"]] = asked["filename"]
        route.fulfill(response=answer)

    def transfers(route: Route) -> None:
        key = route.request.url.split("/files/originals/", 1)[-1].split("?")[0]
        if not _is_transfer(route.request):
            route.continue_()
        elif names.get(key) == "slow.jpg":
            held.append(route)
        elif away[0]:
            route.fulfill(status=503, content_type="text/plain", body="")
        else:
            route.continue_()

    def before(page: Page) -> None:
        page.route("**/uploads", name_tickets)
        page.route("**/files/**", transfers)

    server = server_with({})
    page: Page = open_page(server, DESKTOP, before=before)
    files: list[FilePayload] = [
        {"name": "slow.jpg", "mimeType": "image/jpeg", "buffer": jpeg((200, 10, 10))},
        {"name": "flaky.jpg", "mimeType": "image/jpeg", "buffer": jpeg((10, 10, 200))},
    ]
    page.locator("#picker").set_input_files(files)
    rows = page.locator("li.upload")
    flaky = rows.filter(has_text="flaky.jpg")
    expect(flaky).to_have_attribute("data-state", "error", timeout=30_000)
    away[0] = False
    flaky.get_by_role("button", name="Try again to upload flaky.jpg").click()
    expect(flaky).to_have_attribute("data-state", "done")
    (route,) = held
    route.continue_()
    expect(rows.filter(has_text="slow.jpg")).to_have_attribute("data-state", "done")
    expect(page.locator("#announce")).to_have_text("Uploads finished: 2 added.")


def test_uploads_can_be_cancelled_until_their_bytes_are_stored(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Of four files, three are sent at once and one waits its turn: cancelling one being sent
    and the one waiting leaves the other two to be added, and nothing of the cancelled two
    in the gallery."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if _is_transfer(route.request):
            held.append(route)
        else:
            route.continue_()

    server = server_with({})
    page: Page = open_page(server, DESKTOP, before=lambda p: p.route("**/files/**", hold))
    files: list[FilePayload] = [
        {"name": f"batch-{i}.jpg", "mimeType": "image/jpeg", "buffer": jpeg((i * 40, 70, 20))}
        for i in range(4)
    ]
    page.locator("#picker").set_input_files(files)
    rows = page.locator("li.upload")
    expect(rows.filter(has_text="Uploading")).to_have_count(3)
    waiting = rows.filter(has_text="Waiting…")
    expect(waiting).to_have_count(1)
    queued_name = waiting.locator(".upload-name").inner_text()
    sending = rows.filter(has_text="Uploading").first
    sending_name = sending.locator(".upload-name").inner_text()
    with page.expect_event("requestfailed", _is_transfer):
        sending.get_by_role("button", name=f"Cancel the upload of {sending_name}").click()
    page.get_by_role("button", name=f"Cancel the upload of {queued_name}").click()

    expect(rows.filter(has_text="Cancelled")).to_have_count(2)
    for route in held:
        if route.request.failure is None:
            route.continue_()
    expect(rows.filter(has_text="Added")).to_have_count(2)
    for name in (sending_name, queued_name):
        row = rows.filter(has_text=name)
        expect(row).to_have_attribute("data-state", "cancelled")
        expect(row.get_by_role("button")).to_have_count(0)
    listed = httpx.get(f"{server.url}/photos", timeout=30).json()["items"]
    assert sorted(p["status"] for p in listed) == ["ready", "ready"]
    assert {p["filename"] for p in listed} == {f["name"] for f in files} - {
        sending_name,
        queued_name,
    }
    page.get_by_role("button", name="Clear finished").click()
    expect(rows).to_have_count(0)


def _sent_unprocessed(server: Server, name: str, data: bytes) -> str:
    """A photo uploaded the way the page does it (a ticket, the bytes, `complete`) and not
    processed yet: unlike `/upload`, nothing has read its bytes, so a copy of another photo
    is not known to be one until it is processed."""
    with httpx.Client(base_url=server.url + "/", timeout=60) as client:
        ticket = client.post(
            "uploads", json={"filename": name, "content_type": "image/jpeg", "size": len(data)}
        ).json()
        sent = client.request(
            ticket["method"], ticket["url"], headers=ticket["headers"], content=data
        )
        assert sent.is_success, sent.text
        done = client.post(ticket["complete_url"], params={"wait": "false"})
        assert done.status_code == 202, done.text
    photo_id: str = ticket["id"]
    return photo_id


def test_a_tile_found_to_be_a_copy_leaves_the_grid(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Two uploads of the same bytes are both listed as processing when the page loads; once
    processed, one is the photo and the other a copy of it, which the gallery does not show:
    its tile goes, where it said "Processing…" for good."""
    server = server_with(NO_WORKERS)
    data = jpeg((70, 140, 210))
    first = _sent_unprocessed(server, "first.jpg", data)
    second = _sent_unprocessed(server, "second.jpg", data)
    page: Page = open_page(server, DESKTOP)
    expect(page.locator("#grid > li")).to_have_count(2)
    expect(page.locator("#grid > li").filter(has_text="Processing…")).to_have_count(2)

    server.stop()
    server.env = {}
    server.start()
    expect(page.locator("#grid > li")).to_have_count(1)
    expect(page.locator("#grid > li[data-status=ready]")).to_have_count(1)
    expect(page.locator("#grid > li").filter(has_text="Processing…")).to_have_count(0)
    listed = httpx.get(f"{server.url}/photos", timeout=30).json()["items"]
    assert {p["id"]: p["status"] for p in listed} in (
        {first: "ready", second: "duplicate"},
        {first: "duplicate", second: "ready"},
    )
    kept = next(p["id"] for p in listed if p["status"] == "ready")
    expect(page.locator(f'#grid > li[data-id="{kept}"]')).to_have_count(1)


def test_a_photo_deleted_in_another_tab_leaves_the_viewer_and_the_grid(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Deleted elsewhere after the page loaded, a photo opened in the viewer has no image to
    show: the page asks the server again, hears the photo is gone, takes its tile away and
    shows the photo now in its place, saying why, where it showed a broken image for good."""
    server = server_with({})
    ids = _uploaded(server, ["oldest.jpg", "deleted.jpg", "newest.jpg"], (2000, 1500))
    page: Page = open_page(server, DESKTOP)
    tiles = page.locator("#grid > li")
    expect(tiles).to_have_count(3)
    for tile in tiles.all():
        expect(tile).to_have_class("tile loaded")

    # another tab, or another device
    assert httpx.delete(f"{server.url}/photos/{ids[1]}", timeout=30).status_code == 204
    page.locator(f'#grid > li[data-id="{ids[1]}"] button').click()
    viewer = page.get_by_role("dialog")
    expect(viewer).to_be_visible()
    expect(tiles).to_have_count(2)
    expect(page.locator(f'#grid > li[data-id="{ids[1]}"]')).to_have_count(0)
    expect(viewer.locator("[data-part=title]")).to_have_text("oldest.jpg")
    expect(viewer.locator("[data-part=position]")).to_have_text("Photo 2 of 2")
    expect(viewer.locator("[data-announce]")).to_have_text("deleted.jpg was deleted elsewhere.")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator(f'#grid > li[data-id="{ids[0]}"] button')).to_be_focused()


def test_the_keyboard_focus_stays_in_the_uploads_as_their_buttons_go(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Cancel pressed with the keyboard hides itself, "Clear finished" hides the whole list:
    the focus goes to the next thing to use ("Clear finished", then the photos), where it
    fell back to the page itself and a screen reader said nothing."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if _is_transfer(route.request):
            held.append(route)
        else:
            route.continue_()

    server = server_with({})
    page: Page = open_page(server, DESKTOP, before=lambda p: p.route("**/files/**", hold))
    row = _picked(page, "held.jpg", (10, 200, 100))
    expect(row).to_contain_text("Uploading")
    cancel = row.get_by_role("button", name="Cancel the upload of held.jpg")
    cancel.focus()
    page.keyboard.press("Enter")
    expect(row).to_have_attribute("data-state", "cancelled")
    clear = page.get_by_role("button", name="Clear finished")
    expect(clear).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#uploads")).to_be_hidden()
    expect(page.locator("#gallery")).to_be_focused()
    for route in held:
        if route.request.failure is None:
            route.continue_()


def test_two_things_said_at_once_are_both_said(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The one upload of a batch fails processing: its failure and the batch's end are said
    at once, and both stay in the live region, where the second replaced the first before a
    screen reader could hear it."""
    server = server_with({})
    page: Page = open_page(server, DESKTOP)
    picked: FilePayload = {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"no" * 400}
    page.locator("#picker").set_input_files([picked])
    expect(page.locator("li.upload")).to_have_attribute("data-state", "error")
    said = page.locator("#announce")
    expect(said).to_contain_text("Uploads finished: 0 added, 1 failed.")
    expect(said).to_contain_text("broken.jpg: Could not be processed: not an image")


def test_the_viewers_place_follows_a_photo_added_before_it(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """A photo picked before the viewer was opened lands while it shows the older of two:
    "Photo 2 of 2" becomes "Photo 3 of 3", where it stayed as it was until the viewer
    showed another photo."""
    server = server_with({})
    ids = _uploaded(server, ["older.jpg", "newer.jpg"])
    held: list[Route] = []

    def hold(route: Route) -> None:
        if _is_transfer(route.request):
            held.append(route)
        else:
            route.continue_()

    page: Page = open_page(server, DESKTOP, before=lambda p: p.route("**/files/**", hold))
    row = _picked(page, "newest.jpg", (200, 200, 20))
    expect(row).to_contain_text("Uploading")
    page.locator(f'#grid > li[data-id="{ids[0]}"] button').click()
    viewer = page.get_by_role("dialog")
    position = viewer.locator("[data-part=position]")
    expect(position).to_have_text("Photo 2 of 2")
    (route,) = held
    route.continue_()
    expect(page.locator("#grid > li")).to_have_count(3)
    expect(position).to_have_text("Photo 3 of 3")
    expect(viewer.locator("[data-part=title]")).to_have_text("older.jpg")


def test_sharing_or_describing_a_photo_deleted_elsewhere_says_it_was(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The viewer's image came before the photo was deleted elsewhere, so nothing failed to
    load: "Share link", then a description saved, hear 404; the page takes the photo away
    and shows the one in its place, saying why, where it showed the server's "not found"
    beside a photo that was gone."""
    server = server_with({})
    ids = _uploaded(server, ["oldest.jpg", "middle.jpg", "newest.jpg"])
    page: Page = open_page(server, DESKTOP)
    viewer = page.get_by_role("dialog")
    title = viewer.locator("[data-part=title]")
    said = viewer.locator("[data-announce]")

    def shown(name: str) -> None:
        expect(title).to_have_text(name)
        page.wait_for_function(
            """() => {
              const image = document.querySelector("#viewer [data-part=image]");
              return image.complete && image.naturalWidth > 0;
            }"""
        )

    page.locator(f'#grid > li[data-id="{ids[2]}"] button').click()
    shown("newest.jpg")
    assert httpx.delete(f"{server.url}/photos/{ids[2]}", timeout=30).status_code == 204
    viewer.get_by_role("button", name="Share link").click()
    expect(said).to_have_text("newest.jpg was deleted elsewhere.")
    expect(page.locator("#grid > li")).to_have_count(2)
    shown("middle.jpg")
    expect(viewer.locator("[data-part=share-error]")).to_be_empty()

    assert httpx.delete(f"{server.url}/photos/{ids[1]}", timeout=30).status_code == 204
    viewer.get_by_role("button", name="Add a description").click()
    viewer.get_by_label("Description").fill("Never saved")
    viewer.get_by_role("button", name="Save").click()
    expect(said).to_have_text("middle.jpg was deleted elsewhere.")
    expect(page.locator("#grid > li")).to_have_count(1)
    expect(title).to_have_text("oldest.jpg")
    expect(viewer.get_by_label("Description")).to_be_hidden()
    expect(viewer.locator("[data-part=form-error]")).to_be_empty()


def test_downloading_a_photo_deleted_elsewhere_says_it_was(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """The viewer's "Download original" asks for the photo first: one that is there downloads
    under its name; one deleted elsewhere (its image came before) leaves the grid and the
    viewer, which shows the photo in its place and says why, where the download failed (or,
    from a store elsewhere, the browser went to its bare "not found") and nothing was said."""
    server = server_with({})
    ids = _uploaded(server, ["oldest.jpg", "newest.jpg"])
    page: Page = open_page(server, DESKTOP)
    viewer = page.get_by_role("dialog")
    download = viewer.get_by_role("link", name="Download original")
    page.locator(f'#grid > li[data-id="{ids[1]}"] button').click()
    expect(viewer.locator("[data-part=title]")).to_have_text("newest.jpg")
    with page.expect_download() as downloaded:
        download.click()
    assert downloaded.value.suggested_filename == "newest.jpg"
    assert downloaded.value.failure() is None

    assert httpx.delete(f"{server.url}/photos/{ids[1]}", timeout=30).status_code == 204
    download.click()
    expect(viewer.locator("[data-announce]")).to_have_text("newest.jpg was deleted elsewhere.")
    expect(page.locator("#grid > li")).to_have_count(1)
    expect(viewer.locator("[data-part=title]")).to_have_text("oldest.jpg")
    expect(viewer.locator("[data-part=position]")).to_have_text("Photo 1 of 1")
    assert page.url == f"{server.url}/#photo={ids[0]}"


def test_many_photos_being_processed_are_asked_about_together(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """Tiles listed while processing and uploads being processed are followed in one status
    request a round, not one each: the page asks about every one of fifty photos twice in
    fewer requests than there are photos (one each, every 0.25 to 2 s, made hundreds), goes
    on through a restart until all are processed, and then stops asking."""
    server = server_with(NO_WORKERS)
    listed = [_pending(server, f"listed-{n}.jpg", n * 9) for n in range(25)]
    asked: list[list[str]] = []

    def record(request: Request) -> None:
        """The photos each status request asks about, whichever way it asks."""
        url = urlsplit(request.url)
        if url.path == "/photos/status":
            asked.append(parse_qs(url.query)["ids"][0].split(","))
        elif url.path.startswith("/photos/") and url.path.endswith("/status"):
            asked.append([url.path.split("/")[2]])

    page: Page = open_page(server, DESKTOP, before=lambda p: p.on("request", record))
    expect(page.locator("#grid > li").filter(has_text="Processing…")).to_have_count(25)
    files: list[FilePayload] = [
        {"name": f"IMG_{n:04d}.jpg", "mimeType": "image/jpeg", "buffer": jpeg((n * 9, 200, 30))}
        for n in range(25)
    ]
    page.locator("#picker").set_input_files(files)
    rows = page.locator("li.upload")
    expect(rows.and_(page.locator("[data-state=processing]"))).to_have_count(25)
    photos = httpx.get(f"{server.url}/photos", params={"limit": 100}, timeout=30).json()["items"]
    ids = {p["id"] for p in photos}
    assert len(ids) == 50 and set(listed) <= ids

    def times_asked(photo_id: str) -> int:
        return sum(photo_id in request for request in asked)

    for _ in range(300):  # a guard: the page asks about each within seconds
        if min(map(times_asked, ids)) >= 2:
            break
        page.wait_for_timeout(200)
    assert min(map(times_asked, ids)) >= 2, "some photos were not asked about twice"
    assert len(asked) < len(ids), f"{len(asked)} status requests for {len(ids)} photos"
    assert all(len(request) <= 100 for request in asked)

    server.stop()
    server.env = {}
    server.start()
    for row in rows.all():
        expect(row).to_have_attribute("data-state", "done", timeout=120_000)
    expect(rows.filter(has_text="Added")).to_have_count(25)
    for photo_id in listed:
        expect(page.locator(f'#grid > li[data-id="{photo_id}"]')).to_have_attribute(
            "data-status", "ready"
        )
    made = len(asked)
    assert made < len(ids), f"{made} status requests for {len(ids)} photos"
    # Nothing is left to follow: the page stops asking (it would ask again within 1.5 s).
    page.wait_for_timeout(3000)
    assert len(asked) == made


def _paused(page: Page) -> None:
    """Stops the page's clock (installed before it loaded) where it is: its timers fire only
    as the test moves it on (`page.clock.run_for`)."""
    page.clock.pause_at(page.evaluate("Date.now()") + 1)


def test_a_photo_done_soon_after_the_first_look_shows_soon(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """On the page's own clock: one photo uploaded is first asked about within a quarter of a
    second, and, processed just after that, is asked about again and shown half a second
    later, where the page asked right away (finding it pending, as a photo just uploaded
    is) and then only a second later."""
    server = server_with(NO_WORKERS)
    asked: list[Request] = []

    def record(request: Request) -> None:
        if _is_status(request):
            asked.append(request)

    page: Page = open_page(server, DESKTOP, before=lambda p: p.clock.install())
    page.on("request", record)
    _paused(page)
    # Counted from the answer to the upload's completion, where the page starts to wait: the
    # clock stands still until then (moved on meanwhile, it counted the server's time to
    # answer as the page's), and a second more of real time lets the page read the answer
    # and set its timer. The request is then awaited without moving the clock on further.
    with page.expect_response(lambda response: "/complete" in response.url):
        row = _picked(page, "quick.jpg", (250, 120, 10))
    expect(row).to_have_attribute("data-state", "processing")
    time.sleep(1)
    with page.expect_request(_is_status, timeout=10_000):
        page.clock.run_for(300)
    first = asked[0].response()
    assert first is not None and first.json()["items"][0]["status"] == "pending"

    server.stop()
    server.env = {}
    server.start()
    photo_id = first.json()["items"][0]["id"]
    for _ in range(300):  # a guard: the worker takes a fraction of a second
        status = httpx.get(f"{server.url}/photos/{photo_id}/status", timeout=30).json()
        if status["status"] == "ready":
            break
        time.sleep(0.1)
    assert status["status"] == "ready", status
    page.clock.run_for(600)
    expect(row).to_have_attribute("data-state", "done")
    expect(row).to_contain_text("Added")
    assert len(asked) == 2


def test_a_batch_of_uploads_is_asked_about_once_a_second_or_so(
    server_with: Callable[[dict[str, str]], Server], open_page: Any
) -> None:
    """On the page's own clock, fifty photos land one every quarter of a second (each
    transfer held back until its turn): however soon after it lands each is first asked
    about, the page makes one status request a second on average, three at once at most
    beyond that (asking a quarter of a second after each landed made one every 0.25 s)."""
    server = server_with(NO_WORKERS)
    asked: list[list[str]] = []
    held: list[Route] = []

    def record(request: Request) -> None:
        url = urlsplit(request.url)
        if url.path == "/photos/status":
            asked.append(parse_qs(url.query)["ids"][0].split(","))

    def hold(route: Route) -> None:
        if _is_transfer(route.request):
            held.append(route)
        else:
            route.continue_()

    def before(page: Page) -> None:
        page.clock.install()
        page.on("request", record)
        page.route("**/files/**", hold)

    page: Page = open_page(server, DESKTOP, before=before)
    _paused(page)
    files: list[FilePayload] = [
        {"name": f"IMG_{n:04d}.jpg", "mimeType": "image/jpeg", "buffer": jpeg((n * 5, 60, 200))}
        for n in range(50)
    ]
    page.locator("#picker").set_input_files(files)
    processing = page.locator("li.upload[data-state=processing]")
    for landed in range(1, len(files) + 1):
        for _ in range(600):  # a guard: the next transfer starts as soon as one ends
            if held:
                break
            page.wait_for_timeout(10)
        held.pop(0).continue_()
        expect(processing).to_have_count(landed)
        page.clock.run_for(250)
    elapsed = len(files) * 250
    assert len(asked) <= elapsed / 1000 + 3, f"{len(asked)} status requests in {elapsed} ms"

    photos = httpx.get(f"{server.url}/photos", params={"limit": 100}, timeout=30).json()["items"]
    assert len(photos) == len(files)
    for _ in range(20):
        if all(any(p["id"] in request for request in asked) for p in photos):
            break
        page.clock.run_for(1000)
        page.wait_for_timeout(25)
    assert all(any(p["id"] in request for request in asked) for p in photos)
