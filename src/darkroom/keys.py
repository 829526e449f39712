"""How darkroom names objects. Keys are always generated here, never taken from a user."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from darkroom.errors import BadRequest

_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*")
_ORIGINAL_KEY = re.compile(r"(?:.*/)?(?P<ms>\d{13})_(?P<id>[0-9a-f]{32})\.[a-z0-9]{2,5}")
MAX_KEY_LENGTH = 512


def check_key(key: str) -> str:
    """Refuse keys that could escape a store: absolute, `..`, empty segments, odd characters."""
    if len(key) > MAX_KEY_LENGTH or not _SAFE_KEY.fullmatch(key) or ".." in key.split("/"):
        raise BadRequest(f"invalid object key {key[:80]!r}")
    return key


def new_photo_id() -> str:
    return uuid.uuid4().hex


def original_key(photo_id: str, created_at: datetime, extension: str) -> str:
    """`<milliseconds since epoch>_<photo id>.<ext>`, the naming of seed 000's orchestrator."""
    return f"{int(created_at.timestamp() * 1000):013d}_{photo_id}.{extension}"


def photo_id_from_key(key: str) -> str | None:
    """The photo id inside an original's key, or None for a key darkroom did not make."""
    match = _ORIGINAL_KEY.fullmatch(key)
    return match.group("id") if match else None


def named_at(key: str) -> datetime | None:
    """When darkroom named an original (its upload began), or None for a foreign key."""
    match = _ORIGINAL_KEY.fullmatch(key)
    return datetime.fromtimestamp(int(match.group("ms")) / 1000, UTC) if match else None


def variant_key(photo_id: str, name: str, digest: str, extension: str) -> str:
    """Changes whenever the variant's bytes change, so variants can be cached forever."""
    return f"{photo_id}/{name}-{digest[:16]}.{extension}"
