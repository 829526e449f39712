"""Per-client rate limits (token buckets, in process) on sign-in, uploads and listings.

Each process counts on its own: behind a load balancer or on Lambda the limits are per
instance, and the HTTP API's own throttling is the shared bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from darkroom.errors import TooManyRequests
from darkroom.web.deps import Owner

Kind = Literal["sign_in", "upload", "listing"]
_MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimits:
    def __init__(self, per_minute: dict[Kind, int], clock: Callable[[], float] = time.monotonic):
        self._per_minute = per_minute
        self._clock = clock
        self._buckets: dict[tuple[Kind, str], _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, kind: Kind, client: str) -> None:
        """Raises `TooManyRequests` with the seconds to wait when `client` is over its rate."""
        capacity = self._per_minute.get(kind, 0)
        if capacity <= 0:
            return
        rate = capacity / 60.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get((kind, client))
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[(kind, client)] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens < 1:
                wait = math.ceil((1 - bucket.tokens) / rate)
                raise TooManyRequests(f"too many requests: try again in {wait} s", wait)
            bucket.tokens -= 1

    def _forget_full(self, now: float) -> None:
        """Buckets that have refilled tell nothing; dropping them bounds the memory."""
        for key, bucket in list(self._buckets.items()):
            capacity = self._per_minute.get(key[0], 0)
            if bucket.tokens + (now - bucket.updated) * capacity / 60.0 >= capacity:
                del self._buckets[key]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limited(kind: Kind) -> Callable[[Request], Awaitable[None]]:
    """A route dependency counting one request of `kind` against the caller's address."""

    async def check(request: Request) -> None:
        limits: RateLimits = request.app.state.rate_limits
        limits.take(kind, client_of(request))

    return check


def limited_caller(kind: Kind) -> Callable[[Request, str], Awaitable[None]]:
    """Counted against the caller's address and, apart, against the signed-in user, so that
    neither many addresses nor many accounts get around the limit."""

    async def check(request: Request, owner: Owner) -> None:
        limits: RateLimits = request.app.state.rate_limits
        limits.take(kind, client_of(request))
        limits.take(kind, f"user:{owner}")

    return check
