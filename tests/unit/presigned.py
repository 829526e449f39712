"""A presigned upload as a client makes one: ticket, bytes straight to the store, completion."""

from __future__ import annotations

from darkroom.bootstrap import Darkroom
from darkroom.domain import Photo


def presigned(dr: Darkroom, owner: str, filename: str, data: bytes) -> Photo:
    """The photo as its completion left it (pending), not processed yet."""
    pending = dr.gallery.start_upload(owner, filename, "image/jpeg", None, "")
    dr.originals.put(pending.photo.key, data, "image/jpeg")
    return dr.gallery.complete_upload(owner, pending.photo.id)
