"""axe-core (vendored) finds no serious or critical violation on the gallery, the viewer,
the description editor or the delete question, at both sizes, light and dark; and the
page can be used with the keyboard alone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, SEED, Screen, describe_violations, run_axe
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser


def _check(page: Page, where: str) -> None:
    violations = run_axe(page)
    assert not violations, f"{where}: {describe_violations(violations)}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=lambda s: s.name)
def test_accessible_by_axe_and_keyboard(
    seeded: Server, open_page: Any, screen: Screen, scheme: str, tmp_path: Path
) -> None:
    page: Page = open_page(seeded, screen, color_scheme=scheme)
    tiles = page.locator("#grid > li")
    expect(tiles).to_have_count(len(SEED))
    for tile in tiles.all():
        tile.scroll_into_view_if_needed()
        expect(tile).to_have_class("tile loaded")
    # an upload refused by the page, so that the uploads list is checked too
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    page.locator("#picker").set_input_files(notes)
    expect(page.locator("li.upload")).to_have_attribute("data-state", "error")
    page.evaluate("window.scrollTo(0, 0)")
    _check(page, "gallery")

    # keyboard: skip link, add photos, clear, the first photo; Enter opens it
    page.locator("body").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the photos")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add photos")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Clear finished")).to_be_focused()
    page.keyboard.press("Tab")
    first = page.locator("#grid > li button").first
    expect(first).to_be_focused()
    page.keyboard.press("Enter")
    viewer = page.get_by_role("dialog")
    expect(viewer).to_be_visible()
    expect(viewer).to_have_accessible_name(SEED[-1][0])
    expect(viewer.get_by_role("button", name="Close viewer")).to_be_focused()
    expect(viewer.get_by_role("img")).to_have_accessible_name(SEED[-1][1] or SEED[-1][0])
    _check(page, "viewer")

    page.keyboard.press("Tab")
    expect(viewer.get_by_role("button", name="Add a description")).to_be_focused()
    page.keyboard.press("Enter")
    expect(viewer.get_by_role("textbox", name="Description")).to_be_focused()
    _check(page, "description editor")
    page.keyboard.press("Escape")
    expect(viewer.get_by_role("button", name="Add a description")).to_be_focused()

    page.keyboard.press("Tab")
    expect(viewer.get_by_role("link", name="Download original")).to_be_focused()
    page.keyboard.press("Tab")
    expect(viewer.get_by_role("button", name="Share link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(viewer.get_by_role("textbox", name=re.compile("^Anyone with this link"))).to_be_focused()
    _check(page, "share link")
    page.keyboard.press("Shift+Tab")
    expect(viewer.get_by_role("button", name="Delete…")).to_be_focused()
    page.keyboard.press("Enter")
    expect(viewer.get_by_role("button", name="Keep it")).to_be_focused()
    _check(page, "delete question")
    page.keyboard.press("Escape")
    expect(viewer.get_by_role("button", name="Delete…")).to_be_focused()

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(first).to_be_focused()
