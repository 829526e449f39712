"""Signing up, in and out on the page, with the links of the mails a real SMTP server got;
and a share link opened by someone who is not signed in."""

from __future__ import annotations

import re
from email.message import Message

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    Screen,
    describe_violations,
    jpeg,
    new_context,
    run_axe,
    serve_document,
    sign_in_page,
)
from tests.e2e.conftest import Server
from tests.receivers import Inbox

pytestmark = pytest.mark.browser
PASSWORD = "a password for the page"
LINK = r"(http://\S+#(?:verify|reset)=\S+)"


def _link(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    found = re.search(LINK, payload.decode())
    assert found is not None
    return found[1]


def _open(page: Page, url: str) -> None:
    """A fresh load, as from a mail program."""
    page.goto("about:blank")
    page.goto(url)


def _account(server: Server, inbox: Inbox, email: str) -> dict[str, str]:
    """An account signed up and confirmed through the API, with `PASSWORD`: its auth header."""
    credentials = {"email": email, "password": PASSWORD}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/auth/sign-up", json=credentials).status_code == 202
        token = _link(inbox.to(email)[-1]).split("#verify=")[1]
        assert client.post("/auth/verify", json={"code": token}).status_code == 200
        tokens = client.post("/auth/sign-in", json=credentials)
        assert tokens.status_code == 200, tokens.text
        return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def _sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_follow_the_mail_sign_in_upload_sign_out(
    browser: Browser, users_server: Server, inbox: Inbox
) -> None:
    context, page, watch = sign_in_page(browser, users_server)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#add")).to_be_hidden()
    assert run_axe(page) == [], describe_violations(run_axe(page))

    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Email", exact=True).fill("ann@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#account-message")).to_contain_text("We sent a link to ann@example.org")

    _open(page, _link(inbox.to("ann@example.org")[-1]))
    expect(page.locator("#account-message")).to_contain_text("Your address is confirmed")
    assert "#verify=" not in page.url
    page.get_by_label("Email", exact=True).fill("ann@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("html[data-ready]")
    expect(page.get_by_text("No photos yet")).to_be_visible()

    red: FilePayload = {"name": "red.jpg", "mimeType": "image/jpeg", "buffer": jpeg((200, 30, 30))}
    page.locator("#picker").set_input_files([red])
    expect(page.locator("#grid > li[data-status=ready]")).to_have_count(1, timeout=60_000)
    page.reload()
    page.wait_for_selector("html[data-ready]")
    expect(page.locator("#grid > li")).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#grid > li")).to_have_count(0)

    page.get_by_role("button", name="Forgot the password?").click()
    page.get_by_label("Email", exact=True).fill("ann@example.org")
    page.get_by_role("button", name="Send reset mail").click()
    expect(page.locator("#account-message")).to_contain_text("if it has an account")
    _open(page, _link(inbox.to("ann@example.org")[-1]))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill("another page password")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#account-message")).to_contain_text("Your password is changed")
    page.get_by_label("Email", exact=True).fill("ann@example.org")
    page.get_by_label("Password", exact=True).fill("another page password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#grid > li")).to_have_count(1)

    # Changing the password, signed in: a wrong current one is refused, the right one ends
    # the session, and the new password signs in.
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    expect(page.locator("#grid > li")).to_have_count(1)
    assert run_axe(page) == [], describe_violations(run_axe(page))
    page.get_by_label("Current password").fill("not the password at all")
    page.get_by_label("New password").fill("the third page password")
    page.locator("#account-submit").click()
    expect(page.locator("#account-error")).to_contain_text("the current password is wrong")
    page.get_by_label("Current password").fill("another page password")
    page.locator("#account-submit").click()
    expect(page.locator("#account-message")).to_contain_text("Your password is changed")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    page.get_by_label("Email", exact=True).fill("ann@example.org")
    page.get_by_label("Password", exact=True).fill("the third page password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#grid > li")).to_have_count(1)
    expect(page.get_by_role("heading", name="Change your password")).to_be_hidden()

    # A share link shows the photo to someone who is not signed in.
    page.locator("#grid > li").first.click()
    page.get_by_role("button", name="Share link").click()
    field = page.get_by_label("Anyone with this link sees the photo until")
    expect(field).to_have_value(re.compile(re.escape(users_server.url + "/#shared=")))
    link = field.input_value()
    stranger = new_context(browser, DESKTOP)
    shared = stranger.new_page()
    shared.on("pageerror", lambda error: watch.errors.append(str(error)))
    serve_document(shared, users_server, "/", "")
    shared.goto(link)
    expect(shared.get_by_role("heading", name="red.jpg")).to_be_visible()
    expect(shared.locator("#shared-image")).to_have_js_property("complete", True)
    assert shared.locator("#shared-image").evaluate("i => i.naturalWidth") > 0
    expect(shared.get_by_role("heading", name="Sign in")).to_be_hidden()
    assert run_axe(shared) == [], describe_violations(run_axe(shared))

    page.get_by_role("button", name="Stop sharing this photo").click()
    expect(page.get_by_role("button", name="Share link")).to_be_focused()
    shared.goto("about:blank")
    shared.goto(link)
    expect(shared.get_by_role("heading", name="Nothing to show")).to_be_visible()
    expect(shared.locator("#shared-error")).to_contain_text("revoked")
    stranger.close()
    context.close()
    watch.check()


@pytest.mark.parametrize("width", [320, 375])
def test_signed_in_on_a_phone(
    browser: Browser, users_server: Server, inbox: Inbox, width: int
) -> None:
    """The top bar's buttons wrap onto the screen, and a keyboard sign-in leaves the focus on
    the photos."""
    _account(users_server, inbox, "ann@example.org")
    context, page, watch = sign_in_page(browser, users_server, Screen("phone", width, 640, True))
    page.get_by_label("Email", exact=True).fill("ann@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("html[data-ready]")
    for name in ["Add photos", "Change password", "Sign out"]:
        box = page.get_by_role("button", name=name).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (name, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.locator("#gallery")).to_be_focused()
    context.close()
    watch.check()


def test_a_used_reset_link_leaves_the_form_usable(
    browser: Browser, users_server: Server, inbox: Inbox
) -> None:
    """A reset link that worked once fails the second time; the form then asks for another
    link, and signing in works as ever."""
    _account(users_server, inbox, "ann@example.org")
    assert (
        httpx.post(
            f"{users_server.url}/auth/forgot-password", json={"email": "ann@example.org"}
        ).status_code
        == 202
    )
    link = _link(inbox.to("ann@example.org")[-1])
    used = {"code": link.split("#reset=")[1], "password": "the password of the link"}
    assert httpx.post(f"{users_server.url}/auth/reset-password", json=used).status_code == 200

    context, page, watch = sign_in_page(browser, users_server)
    _open(page, link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill("another page password")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#account-error")).to_contain_text("used already")
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_be_visible()

    page.get_by_role("button", name="I have an account").click()
    _sign_in(page, "ann@example.org", "the password of the link")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text("No photos yet")).to_be_visible()
    context.close()
    watch.check()


def test_after_a_change_of_password_the_next_one_signed_in_sees_their_own_photos(
    browser: Browser, users_server: Server, inbox: Inbox
) -> None:
    for name, colour in [("ann", (200, 30, 30)), ("bob", (30, 30, 200))]:
        answer = httpx.post(
            f"{users_server.url}/upload",
            files={"file": (f"{name}.jpg", jpeg(colour))},
            headers=_account(users_server, inbox, f"{name}@example.org"),
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
    context, page, watch = sign_in_page(browser, users_server)
    tiles = page.locator("#grid > li img")
    _sign_in(page, "ann@example.org")
    expect(tiles).to_have_attribute("alt", "ann.jpg")

    page.get_by_role("button", name="Change password").click()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("ann's second password")
    page.locator("#account-submit").click()
    expect(page.locator("#account-message")).to_contain_text("Your password is changed")
    _sign_in(page, "bob@example.org")
    expect(tiles).to_have_attribute("alt", "bob.jpg")
    expect(tiles).to_have_count(1)
    context.close()
    watch.check()
