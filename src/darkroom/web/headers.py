"""Security headers on every answer, and signed URLs kept out of the access log."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_DOCS = ("/docs", "/redoc")
"""FastAPI's API explorers load their script from a CDN and run inline script."""


def content_security_policy(store_origins: Iterable[str] = ()) -> str:
    """The page's policy: its own files only, plus the stores its images come from."""
    stores = "".join(f" {origin}" for origin in sorted(set(store_origins)))
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:{stores}; connect-src 'self'{stores}; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.fixed = {
            "X-Content-Type-Options": "nosniff",
            # Signed URLs and share links must not leak to other sites through Referer.
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        }
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(_DOCS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.fixed.items():
                    headers.setdefault(name, value)
                if not docs:
                    headers.setdefault("Content-Security-Policy", self.csp)
            await send(message)

        await self.app(scope, receive, with_headers)


class HideSecrets(logging.Filter):
    """uvicorn's access log shows each request's path and query: a signed URL's signature,
    a share link's token. Keep the path's first segments and drop the rest."""

    def __init__(self, secret_prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = secret_prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            for prefix in self.prefixes:
                if path.startswith(prefix + "/"):
                    path = prefix + "/…"
            record.args = (*args[:2], path, *args[3:])
        return True


def hide_secrets_in_access_log(prefixes: tuple[str, ...]) -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideSecrets) for f in access.filters):
        access.addFilter(HideSecrets(prefixes))
