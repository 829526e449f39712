"""Mail through an SMTP server: `smtp://[user:password@]host[:port][?tls=starttls|ssl]`."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from darkroom.domain import Mail
from darkroom.errors import Unavailable

_DEFAULT_PORTS = {"": 25, "starttls": 587, "ssl": 465}


class SmtpMailer:
    def __init__(self, url: str, sender: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError(f"{url!r} is not smtp://[user:password@]host[:port][?tls=…]")
        self.tls = parse_qs(parts.query).get("tls", [""])[0]
        if self.tls not in _DEFAULT_PORTS:
            raise ValueError(f"tls={self.tls!r}: use starttls or ssl")
        self.host = parts.hostname
        self.port = parts.port or _DEFAULT_PORTS[self.tls]
        self._login = (
            (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        )
        self.sender = sender
        self.timeout = timeout

    def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        try:
            with self._connect() as server:
                if self._login:
                    server.login(*self._login)
                server.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"the mail server {self.host}:{self.port} refused: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            server.starttls(context=ssl.create_default_context())
        return server
