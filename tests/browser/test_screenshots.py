"""Pictures of the gallery for the README: desktop and phone, the grid and the viewer.

They go to `tmp_path`, or to the folder named by `DARKROOM_SCREENSHOTS` (the README's are
made with `DARKROOM_SCREENSHOTS=docs/screenshots`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, SEED, Screen
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser

SHOTS = [
    (DESKTOP, "light", "gallery-desktop.png", "viewer-desktop.png"),
    (PHONE, "dark", "gallery-phone.png", "viewer-phone.png"),
]


@pytest.mark.parametrize(
    ("screen", "scheme", "grid_name", "viewer_name"), SHOTS, ids=["desktop", "phone"]
)
def test_screenshots(
    seeded: Server,
    open_page: Any,
    screen: Screen,
    scheme: str,
    grid_name: str,
    viewer_name: str,
    tmp_path: Path,
) -> None:
    folder = Path(os.environ.get("DARKROOM_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page: Page = open_page(seeded, screen, color_scheme=scheme)
    tiles = page.locator("#grid > li")
    expect(tiles).to_have_count(len(SEED))
    for tile in tiles.all():
        tile.scroll_into_view_if_needed()
        expect(tile).to_have_class("tile loaded")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(400)  # the tiles' fade-in
    page.screenshot(path=folder / grid_name)

    shown = [name for name, _ in reversed(SEED)].index("O02_canon_1000d_10mp_o6.jpg")
    tiles.nth(shown).locator("button").click()
    expect(page.locator("#viewer [data-part=stage]")).not_to_have_class("viewer-stage loading")
    page.wait_for_function("document.querySelector('#viewer img').complete")
    page.wait_for_timeout(300)
    page.screenshot(path=folder / viewer_name)
    assert (folder / grid_name).stat().st_size > 10_000
