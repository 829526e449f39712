"""What follows the removal of an original: its variants and its record go too."""

from __future__ import annotations

import logging

from darkroom.domain import Photo
from darkroom.errors import NotFound
from darkroom.ports import BlobStore, Catalog

log = logging.getLogger(__name__)


class Cleanup:
    def __init__(self, variants: BlobStore, catalog: Catalog) -> None:
        self._variants = variants
        self._catalog = catalog

    def object_removed(self, key: str) -> bool:
        """Handle an ObjectRemoved event for an original. Idempotent; False if unknown."""
        try:
            photo = self._catalog.get_by_key(key)
        except NotFound:
            return False
        self.remove(photo)
        return True

    def remove(self, photo: Photo) -> None:
        """Variants before the record, so a crash in between leaves a record that `doctor`
        or a repeated event can still find, never an unreachable variant."""
        for variant in photo.variants:
            self._variants.delete(variant.key)
        self._catalog.delete(photo.id)
        log.info("photo %s: removed with %d variants", photo.id, len(photo.variants))
