"""The Mailer port: SMTP against a real SMTP server (aiosmtpd, in process), the log, memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from darkroom.adapters.log import LogMailer
from darkroom.adapters.memory import MemoryMailer
from darkroom.adapters.smtp import SmtpMailer
from darkroom.domain import Mail
from darkroom.errors import Unavailable
from tests.e2e.conftest import free_port
from tests.receivers import Inbox, smtp_inbox

MAIL = Mail("ann@example.org", "Confirm your address", "Open http://127.0.0.1/verify?t=abc")


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_inbox() as running:
        yield running


def test_smtp_delivers_to_a_real_server(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    SmtpMailer(f"smtp://127.0.0.1:{port}", "darkroom <dr@example.org>").send(MAIL)
    (message,) = handler.messages
    assert message["To"] == "ann@example.org"
    assert message["From"] == "darkroom <dr@example.org>"
    assert message["Subject"] == "Confirm your address"
    assert "verify?t=abc" in str(message.get_payload())


def test_smtp_server_away_is_unavailable() -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", "dr@example.org", timeout=2)
    with pytest.raises(Unavailable, match="refused"):
        mailer.send(MAIL)


@pytest.mark.parametrize(
    "url", ["http://mail.example.org", "smtp://", "smtp://mail.example.org?tls=maybe"]
)
def test_smtp_urls_are_checked(url: str) -> None:
    with pytest.raises(ValueError):
        SmtpMailer(url, "dr@example.org")


def test_the_log_shows_the_mail(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "darkroom.mail")
    LogMailer().send(MAIL)
    assert "ann@example.org" in caplog.text and "verify?t=abc" in caplog.text


def test_memory_keeps_what_was_sent() -> None:
    mailer = MemoryMailer()
    mailer.send(MAIL)
    assert mailer.sent == [MAIL]
