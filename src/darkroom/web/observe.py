"""Every request gets a correlation id (the caller's `X-Request-Id`, or a new one) that its
log lines, the jobs it queues and their notifications carry, and that the answer returns;
and is counted and timed by route template, so `/photos/{photo_id}` is one series."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom import correlation
from darkroom.adapters.prometheus import PrometheusMetrics

HEADER = b"x-request-id"


class Observe:
    def __init__(self, app: ASGIApp, metrics: PrometheusMetrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER)
        correlation_id = correlation.accept(given.decode("latin-1") if given else None)
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                message["headers"] = [*headers, (HEADER, correlation_id.encode())]
            await send(message)

        started = time.perf_counter()
        with correlation.bound(correlation_id):
            try:
                await self.app(scope, receive, answer)
            finally:
                if self.metrics is not None:
                    seconds = time.perf_counter() - started
                    method = scope["method"] if scope["method"] in _METHODS else "other"
                    self.metrics.request(_route(scope), method, status, seconds)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method name a client makes up is counted as `other`: a series each would let
anyone grow the metrics without end."""


def _route(scope: Scope) -> str:
    """The matched route's template: never the raw path, whose ids would make a series each."""
    path = getattr(scope.get("route"), "path", None)
    if path is None:
        return "unmatched"
    return path or "/{static}"
