"""The whole account flow against the real server and a real SMTP server (aiosmtpd):
sign up, follow the link in the mail, sign in, refresh, forget the password, follow the
reset link, sign in with the new one; each photo stays its owner's."""

from __future__ import annotations

import base64
from email.message import Message

import httpx
import pytest

from tests.corpus import corpus
from tests.e2e.conftest import Server
from tests.receivers import Inbox
from tests.web.signing_in import link_token

pytestmark = pytest.mark.e2e
PASSWORD = "first password 1"
NEW_PASSWORD = "second password 2"


def _text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def _bearer(tokens: httpx.Response) -> dict[str, str]:
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_sign_up_verify_sign_in_reset(users_server: Server, inbox: Inbox) -> None:
    email = "ann@example.org"
    credentials = {"email": email, "password": PASSWORD}
    with httpx.Client(base_url=users_server.url, timeout=60) as client:
        assert client.get("/config").json()["auth"]["mode"] == "local"
        assert client.post("/auth/sign-up", json=credentials).status_code == 202
        (welcome,) = inbox.to(email)
        assert welcome["From"] == "darkroom <darkroom@gallery.test>"
        body = _text(welcome)
        assert f"{users_server.url}/#verify=" in body
        refused = client.post("/auth/sign-in", json=credentials)
        assert refused.status_code == 401 and "confirm" in refused.json()["message"]

        assert (
            client.post("/auth/verify", json={"code": link_token(body, "verify")}).status_code
            == 200
        )
        signed_in = client.post("/auth/sign-in", json=credentials)
        ann = _bearer(signed_in)
        photo = client.post(
            "/upload",
            json={"content": base64.b64encode(corpus("S01_canon_sd300_2mp.jpg")).decode()},
            headers=ann,
        )
        assert photo.status_code == 201, photo.text
        assert client.get("/photos").status_code == 401

        refreshed = client.post(
            "/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"]}
        )
        ann = _bearer(refreshed)
        assert client.get("/list", headers=ann).json() == [photo.json()["key"]]

        assert client.post("/auth/forgot-password", json={"email": email}).status_code == 202
        reset_mail = inbox.to(email)[-1]
        assert reset_mail["Subject"] == "Reset your darkroom password"
        reset = {"code": link_token(_text(reset_mail), "reset"), "password": NEW_PASSWORD}
        assert client.post("/auth/reset-password", json=reset).status_code == 200
        assert client.post("/auth/reset-password", json=reset).status_code == 401
        # A new password ends every session: the old tokens stop working.
        assert client.get("/list", headers=ann).status_code == 401
        assert client.post("/auth/sign-in", json=credentials).status_code == 401
        ann = _bearer(client.post("/auth/sign-in", json={"email": email, "password": NEW_PASSWORD}))
        assert client.get("/list", headers=ann).json() == [photo.json()["key"]]

        assert client.post("/auth/sign-out", headers=ann).status_code == 204
        assert client.get("/list", headers=ann).status_code == 401
    assert "#verify=" not in users_server.log() and "#reset=" not in users_server.log()


def test_nobody_learns_who_has_an_account(users_server: Server, inbox: Inbox) -> None:
    taken = {"email": "bob@example.org", "password": PASSWORD}
    with httpx.Client(base_url=users_server.url, timeout=60) as client:
        first = client.post("/auth/sign-up", json=taken)
        client.post(
            "/auth/verify",
            json={"code": link_token(_text(inbox.to("bob@example.org")[0]), "verify")},
        )
        again = client.post("/auth/sign-up", json=taken)
        assert (first.status_code, first.json()) == (again.status_code, again.json())
        assert "already has an account" in _text(inbox.to("bob@example.org")[-1])
        for email in ("bob@example.org", "nobody@example.org"):
            answer = client.post("/auth/forgot-password", json={"email": email})
            assert answer.status_code == 202
        assert "no account" in _text(inbox.to("nobody@example.org")[0])
        wrong = client.post("/auth/sign-in", json={**taken, "password": "not the password"})
        unknown = client.post("/auth/sign-in", json={**taken, "email": "nobody@example.org"})
        assert wrong.json() == unknown.json() and wrong.status_code == unknown.status_code == 401
