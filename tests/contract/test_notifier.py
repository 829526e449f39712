"""The Notifier contract: ready and failed photos are told; a target that cannot be reached
raises `Unavailable` (which `Notifications` retries). Webhook and e-mail go to real
receivers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message

import pytest

from darkroom.adapters.log import LogNotifier
from darkroom.adapters.memory import MemoryNotifier
from darkroom.adapters.smtp import SmtpMailer
from darkroom.adapters.webhook import WebhookNotifier
from darkroom.domain import Photo, PhotoStatus, Variant
from darkroom.errors import Unavailable
from darkroom.ports import Notifier
from darkroom.services.notifications import MailNotifier
from tests.e2e.conftest import free_port
from tests.receivers import Hook, Inbox, smtp_inbox, webhook_receiver

NOW = datetime(2026, 11, 23, tzinfo=UTC)
READY = Photo(
    "p1",
    "ann",
    "1_p1.jpg",
    "a.jpg",
    NOW,
    NOW,
    status=PhotoStatus.READY,
    width=40,
    height=30,
    variants=(Variant("thumb", "p1/thumb-1.jpg", 40, 30, "image/jpeg", 100),),
)
FAILED = Photo(
    "p2",
    "ann",
    "1_p2.jpg",
    "b.jpg",
    NOW,
    NOW,
    status=PhotoStatus.FAILED,
    reason="the JPEG header is damaged",
)
SECRET = b"webhook-secret-0123456789"


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as running:
        yield running


@pytest.fixture(params=["log", "memory", "webhook", "mail"])
def notifier(request: pytest.FixtureRequest) -> Notifier:
    if request.param == "webhook":
        hook: Hook = request.getfixturevalue("hook")
        return WebhookNotifier(hook.url, SECRET)
    if request.param == "mail":
        _, port = request.getfixturevalue("inbox")
        return MailNotifier(SmtpMailer(f"smtp://127.0.0.1:{port}", "dr@example.org"), "a@b.org")
    makers: dict[str, type[Notifier]] = {"log": LogNotifier, "memory": MemoryNotifier}
    return makers[request.param]()


def test_ready_and_failed_are_told_without_raising(notifier: Notifier) -> None:
    notifier.photo_processed(READY)
    notifier.photo_processed(FAILED)


def test_the_log_says_what_happened(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "darkroom.notify")
    LogNotifier().photo_processed(READY)
    LogNotifier().photo_processed(FAILED)
    assert '"event": "photo.ready"' in caplog.text and "p1/thumb-1.jpg" in caplog.text
    assert '"event": "photo.failed"' in caplog.text and "damaged" in caplog.text


def test_the_webhook_gets_signed_json(hook: Hook) -> None:
    WebhookNotifier(hook.url, SECRET).photo_processed(READY)
    WebhookNotifier(hook.url, SECRET).photo_processed(FAILED)
    ready, failed = hook.deliveries
    assert ready.path == "/hooks/darkroom"
    assert ready.headers["Content-Type"] == "application/json"
    for delivery in (ready, failed):
        signed = delivery.headers["X-Darkroom-Timestamp"].encode() + b"." + delivery.body
        expected = hmac.new(SECRET, signed, hashlib.sha256).hexdigest()
        assert delivery.headers["X-Darkroom-Signature"] == f"sha256={expected}"
    body = json.loads(ready.body)
    assert body["event"] == "photo.ready" and ready.headers["X-Darkroom-Event"] == "photo.ready"
    assert (body["id"], body["filename"], body["width"], body["height"]) == ("p1", "a.jpg", 40, 30)
    assert body["variants"]["thumb"] == {"key": "p1/thumb-1.jpg", "width": 40, "height": 30}
    assert json.loads(failed.body)["reason"] == "the JPEG header is damaged"
    assert ready.headers["X-Darkroom-Delivery"] != failed.headers["X-Darkroom-Delivery"]


def test_a_refused_webhook_raises_and_the_retry_keeps_its_delivery_id(hook: Hook) -> None:
    hook.refuse = 1
    notifier = WebhookNotifier(hook.url, SECRET)
    with pytest.raises(Unavailable, match="answered 503"):
        notifier.photo_processed(READY)
    notifier.photo_processed(READY)
    (delivery,) = hook.deliveries
    assert delivery.headers["X-Darkroom-Delivery"] == f"{READY.id}.{READY.version}"


def test_a_webhook_nobody_listens_to_is_unavailable() -> None:
    notifier = WebhookNotifier(f"http://127.0.0.1:{free_port()}/hook", SECRET, timeout=2)
    with pytest.raises(Unavailable, match="did not answer"):
        notifier.photo_processed(READY)


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "https:///hook", "hook"])
def test_webhook_urls_are_checked(url: str) -> None:
    with pytest.raises(ValueError):
        WebhookNotifier(url, SECRET)


def test_the_mail_names_the_photo_and_its_variants(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", "darkroom <dr@example.org>")
    MailNotifier(mailer, "ann@example.org").photo_processed(READY)
    MailNotifier(mailer, "ann@example.org").photo_processed(FAILED)
    ready, failed = handler.messages
    assert ready["To"] == "ann@example.org"
    assert ready["Subject"] == "darkroom: a.jpg is ready"
    text = _text(ready)
    assert "p1" in text and "40×30" in text and "thumb: 40×30 p1/thumb-1.jpg" in text
    assert failed["Subject"] == "darkroom: b.jpg could not be processed"
    assert "the JPEG header is damaged" in _text(failed)


def _text(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_a_mail_server_away_is_unavailable() -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", "dr@example.org", timeout=2)
    with pytest.raises(Unavailable):
        MailNotifier(mailer, "ann@example.org").photo_processed(READY)
