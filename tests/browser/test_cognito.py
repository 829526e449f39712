"""The page against a Cognito user pool (moto's server): sign up, type the code, sign in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, expect

from tests.aws.servers import MOTO_KEY, MOTO_SECRET, moto_endpoint, new_user_pool
from tests.browser.conftest import jpeg, sign_in_page
from tests.e2e.conftest import Server

pytestmark = pytest.mark.browser
PASSWORD = "Pool password 1"


@pytest.fixture
def cognito_server(tmp_path: Path) -> Iterator[Server]:
    pool_id, client_id = new_user_pool()
    running = Server(tmp_path / "data")
    running.env = {
        "DARKROOM_AUTH": f"cognito://{pool_id}?client_id={client_id}&endpoint_url={moto_endpoint()}",
        "AWS_ACCESS_KEY_ID": MOTO_KEY,
        "AWS_SECRET_ACCESS_KEY": MOTO_SECRET,
    }
    running.start()
    yield running
    running.stop()


def test_sign_up_with_a_code_then_sign_in(browser: Browser, cognito_server: Server) -> None:
    context, page, watch = sign_in_page(browser, cognito_server)
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Email", exact=True).fill("cat@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Confirm your address")).to_be_visible()
    expect(page.locator("#account-message")).to_contain_text(re.compile("sent a code"))
    page.get_by_label("Code from the mail").fill("123456")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#account-message")).to_contain_text("Your address is confirmed")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("html[data-ready]")
    blue: FilePayload = {
        "name": "blue.jpg",
        "mimeType": "image/jpeg",
        "buffer": jpeg((20, 40, 200)),
    }
    page.locator("#picker").set_input_files([blue])
    expect(page.locator("#grid > li[data-status=ready]")).to_have_count(1, timeout=60_000)
    context.close()
    watch.check()
