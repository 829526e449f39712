"""Signing people up and in through the API, reading the links from the mails they get."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from darkroom.adapters.memory import MemoryMailer
from darkroom.bootstrap import Darkroom
from darkroom.config import Settings

SECRET = "test-secret-of-sixteen+"
PASSWORD = "correct horse battery"
_LINK = re.compile(r"https?://\S+#(?P<action>verify|reset)=(?P<token>[\w.-]+)")


def link_token(body: str, action: str) -> str:
    """The token of the `action` link in a mail's text."""
    match = _LINK.search(body)
    assert match is not None and match["action"] == action, body
    return match["token"]


def local_settings(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "originals": "memory://",
        "variants_store": "memory://variants",
        "catalog": "memory://",
        "queue": "memory",
        "notify": "memory",
        "mail": "memory",
        "auth": "local",
        "public_url": "http://gallery.test",
        "secret": SECRET,
        "workers": 1,
    }
    return Settings(**(values | changes))  # type: ignore[arg-type]


def sign_up(client: TestClient, dr: Darkroom, email: str) -> dict[str, str]:
    """Sign up, follow the verification link, sign in: the caller's auth header."""
    mailer = dr.mailer
    assert isinstance(mailer, MemoryMailer)
    assert (
        client.post("/auth/sign-up", json={"email": email, "password": PASSWORD}).status_code == 202
    )
    token = link_token(mailer.sent[-1].body, "verify")
    assert client.post("/auth/verify", json={"code": token}).status_code == 200
    signed_in = client.post("/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
