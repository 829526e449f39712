"""A share link opened on a phone, and one followed in a tab the gallery is open in; the
viewer of a photo with a long name, its share link and delete question, on a phone; a name
and description written right to left, in the viewer, its editor and a share link."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import FilePayload, Page, expect

from tests.browser.conftest import DESKTOP, Screen, jpeg
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser

NAME = "PXL_20240101_123456789_NIGHT_SIGHT_PORTRAIT_COMPRESSED_EDITED_FINAL.jpg"
"""A camera's file name, longer than a phone is wide and with nowhere to break."""
SMALL_PHONE = Screen("small phone", 375, 700, touch=True)


def _share(server: Server) -> str:
    """The share link of a new photo named `NAME`."""
    uploaded = httpx.post(
        f"{server.url}/upload", files={"file": (NAME, jpeg((120, 60, 30)))}, timeout=60
    )
    assert uploaded.status_code == 201, uploaded.text
    shared = httpx.post(f"{server.url}/photos/{uploaded.json()['id']}/shares", json={}, timeout=30)
    assert shared.status_code in (200, 201), shared.text
    url: str = shared.json()["url"]
    return url


def test_a_shared_photo_fits_a_phone(server: Server, open_page: Any) -> None:
    link = _share(server)
    page: Page = open_page(server, SMALL_PHONE)
    page.goto("about:blank")
    page.goto(link)
    page.wait_for_selector("html[data-ready]")
    expect(page.get_by_role("heading", name=NAME)).to_be_visible()
    expect(page.locator("#shared-image")).to_have_js_property("complete", True)
    for part in ["#shared-title", "#shared-image"]:
        box = page.locator(part).bounding_box()
        assert box is not None and box["x"] + box["width"] <= SMALL_PHONE.width, (part, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= SMALL_PHONE.width


def test_a_share_link_followed_in_the_gallerys_tab(server: Server, open_page: Any) -> None:
    """Only the fragment changes, yet the page shows the shared photo; back, the gallery."""
    link = _share(server)
    page: Page = open_page(server, DESKTOP)
    expect(page.locator("#grid > li")).to_have_count(1)
    page.evaluate("url => { window.location.href = url; }", link)
    expect(page.get_by_role("heading", name=NAME)).to_be_visible()
    expect(page.locator("#gallery")).to_be_hidden()
    page.go_back()
    expect(page.locator("#grid > li")).to_have_count(1)
    expect(page.locator("#shared")).to_be_hidden()


def test_the_viewer_of_a_long_name_fits_a_phone(server: Server, open_page: Any) -> None:
    """The share link made and the delete question asked, every part of the viewer is as
    wide as the phone, where the question (which names the photo) stretched it to the width
    of the name and pushed "Close viewer" out of sight."""
    _share(server)
    page: Page = open_page(server, SMALL_PHONE)
    page.locator("#grid > li button").click()
    viewer = page.get_by_role("dialog", name=NAME)
    viewer.get_by_role("button", name="Share link").click()
    expect(viewer.get_by_role("button", name="Copy")).to_be_visible()
    viewer.get_by_role("button", name="Delete…").click()
    expect(viewer.get_by_role("button", name="Keep it")).to_be_focused()
    expect(viewer.locator("[data-part=confirm-text]")).to_contain_text(NAME)
    widths = viewer.evaluate("v => [v.scrollWidth, v.clientWidth]")
    assert widths[0] <= widths[1] <= SMALL_PHONE.width, widths
    for name in ["Close viewer", "Copy", "Delete photo", "Keep it"]:
        box = viewer.get_by_role("button", name=name).bounding_box()
        assert box is not None and box["x"] + box["width"] <= SMALL_PHONE.width, (name, box)


def test_close_viewer_keeps_its_size_beside_a_long_name_on_a_phone(
    server: Server, open_page: Any
) -> None:
    """The "Close viewer" button stays a 44 px square however long the name beside it, where
    the name took the row and squeezed the button to the width of its "×"."""
    _share(server)
    page: Page = open_page(server, SMALL_PHONE)
    page.locator("#grid > li button").click()
    close = page.get_by_role("dialog", name=NAME).get_by_role("button", name="Close viewer")
    expect(close).to_be_visible()
    box = close.bounding_box()
    assert box is not None and box["width"] == box["height"] == 44, box


RTL_NAME = "שוק הכרמל.jpg"
RTL_DESCRIPTION = "דוכן פירות בשוק, בבוקר!"
"""Hebrew: written right to left, the "!" ends the sentence on the left."""


def test_right_to_left_names_and_descriptions_read_right_to_left(
    server: Server, open_page: Any
) -> None:
    """Each name and description is laid out in the direction of its own text, where a
    Hebrew or Arabic one was laid out left to right like the page (its last "!" drawn at its
    start, aligned to the wrong side, and typed into an editor going the wrong way)."""
    uploaded = httpx.post(
        f"{server.url}/upload",
        files={"file": (RTL_NAME, jpeg((30, 120, 60)))},
        data={"description": RTL_DESCRIPTION},
        timeout=60,
    )
    assert uploaded.status_code == 201, uploaded.text
    page: Page = open_page(server, DESKTOP)
    rtl = "e => e.matches(':dir(rtl)')"
    refused: FilePayload = {"name": "מסמך.txt", "mimeType": "text/plain", "buffer": b"not a photo"}
    page.locator("#picker").set_input_files([refused])
    assert page.locator("li.upload .upload-name").evaluate(rtl)

    page.locator("#grid > li button").click()
    viewer = page.get_by_role("dialog", name=RTL_NAME)
    description = viewer.locator("[data-part=description]")
    expect(description).to_have_text(RTL_DESCRIPTION)
    assert viewer.locator("[data-part=title]").evaluate(rtl)
    assert description.evaluate(rtl)
    assert viewer.locator("[data-part=position]").evaluate("e => e.matches(':dir(ltr)')")
    viewer.get_by_role("button", name="Edit description").click()
    editor = viewer.get_by_role("textbox", name="Description")
    expect(editor).to_have_value(RTL_DESCRIPTION)
    assert editor.evaluate(rtl)
    editor.fill("A fruit stall")
    assert editor.evaluate("e => e.matches(':dir(ltr)')")
    page.keyboard.press("Escape")

    viewer.get_by_role("button", name="Share link").click()
    link = viewer.get_by_role("textbox", name=re.compile("^Anyone with this link")).input_value()
    page.goto("about:blank")
    page.goto(link)
    page.wait_for_selector("html[data-ready]")
    expect(page.get_by_role("heading", name=RTL_NAME)).to_be_visible()
    assert page.locator("#shared-title").evaluate(rtl)
    assert page.locator("#shared-description").evaluate(rtl)
