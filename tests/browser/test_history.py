"""The viewer in the page's address (`#photo=ID`): opening a photo is a step in the browser's
history that Back leaves and Forward takes again, paging replaces it, a reload or a link
opens the viewer on the photo (one on a page not loaded yet at once), and a link to a photo
that is not there says so over the grid."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import DESKTOP, SEED
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser


def _listed(server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx.get(
        f"{server.url}/photos", params={"limit": 200}, timeout=30
    ).json()["items"]
    return items


def _two_a_page(url: str) -> str:
    """The grid's page at `url`, two photos of it."""
    parts = urlsplit(url)
    query = parse_qs(parts.query) | {"limit": ["2"]}
    return parts._replace(query="&".join(f"{k}={v[0]}" for k, v in query.items())).geturl()


def _is_list(url: str) -> bool:
    return urlsplit(url).path.endswith("/photos")


def test_back_closes_the_viewer_forward_and_reload_open_it(seeded: Server, open_page: Any) -> None:
    """Under a path prefix: a photo opened is a history entry of its own (paging replaces
    it), Back closes the viewer with the focus on the photo's tile, Forward opens it again, a
    reload keeps it open, and Escape closes it leaving no entry that Back would open again."""
    listed = _listed(seeded)
    page: Page = open_page(seeded, DESKTOP, prefix="/gallery")
    grid_url = f"{seeded.url}/gallery/"
    assert page.url == grid_url
    viewer = page.get_by_role("dialog")
    title = viewer.locator("[data-part=title]")
    entries = page.evaluate("history.length")

    page.locator(f'#grid > li[data-id="{listed[2]["id"]}"] button').click()
    expect(title).to_have_text(listed[2]["filename"])
    assert page.url == f"{grid_url}#photo={listed[2]['id']}"
    assert page.evaluate("history.length") == entries + 1
    page.keyboard.press("ArrowRight")
    expect(title).to_have_text(listed[3]["filename"])
    page.keyboard.press("ArrowRight")
    expect(title).to_have_text(listed[4]["filename"])
    assert page.url == f"{grid_url}#photo={listed[4]['id']}"
    assert page.evaluate("history.length") == entries + 1

    page.go_back()
    expect(viewer).to_be_hidden()
    assert page.url == grid_url
    expect(page.locator(f'#grid > li[data-id="{listed[4]["id"]}"] button')).to_be_focused()

    page.go_forward()
    expect(viewer).to_be_visible()
    expect(title).to_have_text(listed[4]["filename"])
    expect(viewer.get_by_role("button", name="Close viewer")).to_be_focused()

    page.reload()
    page.wait_for_selector("html[data-ready]")
    expect(viewer).to_be_visible()
    expect(title).to_have_text(listed[4]["filename"])
    expect(viewer.locator("[data-part=position]")).to_have_text(f"Photo 5 of {len(SEED)}")
    expect(viewer.get_by_role("button", name="Close viewer")).to_be_focused()

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator(f'#grid > li[data-id="{listed[4]["id"]}"] button')).to_be_focused()
    page.wait_for_url(grid_url)
    # Back now leaves the gallery: no entry of the closed viewer was left behind to open
    page.go_back()
    assert page.url == "about:blank"


def test_a_link_to_a_photo_far_down_opens_it_at_once(seeded: Server, open_page: Any) -> None:
    """Two photos a page, the pages after the first held back: a link to the oldest photo
    opens the viewer on it at once, where the page waited for every page before it; the
    grid shows its first page, the viewer that the photo is further down, and ← loads the
    pages up to it and shows the photo before it, in its place among the others."""
    listed = _listed(seeded)
    oldest = listed[-1]
    held: list[tuple[Route, str]] = []
    holding = [False]

    def two_a_page(route: Route) -> None:
        url = _two_a_page(route.request.url)
        if "cursor=" in url and holding[0]:
            held.append((route, url))
        else:
            route.continue_(url=url)

    page: Page = open_page(seeded, DESKTOP, before=lambda p: p.route(_is_list, two_a_page))
    page.goto("about:blank")
    holding[0] = True
    page.goto(f"{seeded.url}/#photo={oldest['id']}")
    page.wait_for_selector("html[data-ready]")
    viewer = page.get_by_role("dialog")
    title = viewer.locator("[data-part=title]")
    position = viewer.locator("[data-part=position]")
    expect(viewer).to_be_visible()
    expect(title).to_have_text(oldest["filename"])
    expect(position).to_have_text("Further down than the 2 photos loaded")
    expect(page.locator("#grid > li")).to_have_count(2)
    assert len(held) <= 1  # the end of the grid in view asks for the second page, as ever

    page.keyboard.press("ArrowLeft")
    holding[0] = False
    for route, url in held:
        route.continue_(url=url)
    expect(title).to_have_text(listed[-2]["filename"])
    expect(position).to_have_text(f"Photo {len(SEED) - 1} of {len(SEED)}")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(page.locator(f'#grid > li[data-id="{listed[-2]["id"]}"] button')).to_be_focused()
    assert page.url == f"{seeded.url}/"


def test_a_link_to_a_photo_that_is_not_there_says_so(seeded: Server, open_page: Any) -> None:
    """A photo deleted, someone else's, or never there (all answer 404): the page says so
    over the grid, opens no viewer, and takes the photo out of its address."""
    page: Page = open_page(seeded, DESKTOP)
    page.goto("about:blank")
    page.goto(f"{seeded.url}/#photo=0123456789abcdef0123456789abcdef")
    page.wait_for_selector("html[data-ready]")
    expect(page.get_by_role("alert")).to_have_text(
        "The photo this link shows is not in the gallery: it was deleted, or it is another"
        " account's."
    )
    expect(page.locator("#grid > li")).to_have_count(len(SEED))
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert page.url == f"{seeded.url}/"
    page.locator("#grid > li button").first.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("#photo-missing")).to_be_hidden()
