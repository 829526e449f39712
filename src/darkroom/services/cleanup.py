"""What follows the removal of an original: its variants and its record go too, and so do
the records of its duplicates, which only ever pointed at it."""

from __future__ import annotations

import logging

from darkroom.domain import Photo, PhotoStatus
from darkroom.errors import NotFound
from darkroom.ports import BlobStore, Catalog, iterate_blobs

log = logging.getLogger(__name__)


class Cleanup:
    def __init__(self, originals: BlobStore, variants: BlobStore, catalog: Catalog) -> None:
        self._originals = originals
        self._variants = variants
        self._catalog = catalog

    def object_removed(self, key: str) -> bool:
        """Handle an ObjectRemoved event for an original. Idempotent; False if unknown."""
        try:
            photo = self._catalog.get_by_key(key)
        except NotFound:
            return False
        if photo.status is PhotoStatus.DUPLICATE:
            # Processing removed this original itself, the bytes being kept under the older
            # photo: the record stays as the pointer to it, and goes when that photo goes.
            log.info("photo %s: a duplicate's original removed; record kept", photo.id)
            return False
        self.remove(photo)
        return True

    def remove(self, photo: Photo) -> None:
        """Duplicates, then variants, then the record: a crash in between leaves a record
        through which `doctor` or a repeated event still finds the rest, never a duplicate
        pointing at nothing or an unreachable variant."""
        for duplicate in self._duplicates_of(photo):
            self.remove_duplicate(duplicate)
        self._drop(photo)

    def remove_duplicate(self, photo: Photo) -> None:
        """A duplicate's record, with its original should processing have left it behind.
        Only an original that is there is deleted: on a versioned bucket a delete of
        nothing still leaves a marker, and an event."""
        if self._originals.head(photo.key) is not None:
            self._originals.delete(photo.key)
        self._drop(photo)

    def _duplicates_of(self, photo: Photo) -> list[Photo]:
        # A duplicate keeps the digest of the bytes it shares with its photo, so the
        # catalog's index of digests finds it on every backend.
        if not photo.sha256:
            return []
        return [
            other
            for other in self._catalog.find_by_hash(photo.owner, photo.sha256)
            if other.status is PhotoStatus.DUPLICATE and other.duplicate_of == photo.id
        ]

    def _drop(self, photo: Photo) -> None:
        for variant in photo.variants:
            self._variants.delete(variant.key)
        self._catalog.delete(photo.id)
        # `photo` may be older than the record: processing that ended meanwhile recorded
        # variants of its own. Once the record is gone no processing can record more (it
        # drops what it wrote), so what is under the photo's prefix now is all there is.
        late = [blob.key for blob in iterate_blobs(self._variants, f"{photo.id}/")]
        for key in late:
            self._variants.delete(key)
        log.info("photo %s: removed with %d variants", photo.id, len(photo.variants) + len(late))
