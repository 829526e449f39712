"""The correlation id of the work at hand. It follows one photo from the request that
uploaded it, through its job in the queue, to the worker and the notifications, so that
one id finds every log line about it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CURRENT: ContextVar[str] = ContextVar("darkroom_correlation_id", default="")
_FORM = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def current() -> str:
    """The id bound here, or "" outside any request or job."""
    return _CURRENT.get()


def accept(given: str | None) -> str:
    """A caller's id (a request header) if it is a sane one, else a new id."""
    if given and _FORM.fullmatch(given):
        return given
    return uuid.uuid4().hex


@contextmanager
def bound(correlation_id: str) -> Iterator[str]:
    """Binds `correlation_id` (a new one when empty) for the block."""
    token = _CURRENT.set(correlation_id or uuid.uuid4().hex)
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)
