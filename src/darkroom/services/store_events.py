"""What the originals store's own notifications start: S3 ObjectCreated and ObjectRemoved.

Notifications come at least once, late and out of order, and name objects that darkroom
may not have made (S0-4: a photo dropped straight into the bucket).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath

from darkroom import keys
from darkroom.domain import Photo, PhotoStatus
from darkroom.errors import Conflict, NotFound
from darkroom.ports import BlobStore, Catalog
from darkroom.services.cleanup import Cleanup
from darkroom.services.gallery import LOCAL_OWNER, clean_filename, utcnow
from darkroom.services.processor import Outcome, Processor

log = logging.getLogger(__name__)


class StoreEvents:
    def __init__(
        self,
        originals: BlobStore,
        catalog: Catalog,
        processor: Processor,
        cleanup: Cleanup,
        *,
        owner: Callable[[], str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`owner` says who a photo that darkroom did not store belongs to (asked for each
        one); by default the gallery's one user."""
        self._originals = originals
        self._catalog = catalog
        self._processor = processor
        self._cleanup = cleanup
        self._owner = owner or (lambda: LOCAL_OWNER)
        self._now = clock

    def object_created(self, key: str) -> Outcome:
        """Process the photo stored under `key`. Raises only for transient trouble."""
        photo = self._photo_for(key)
        if photo is None:
            return Outcome.SKIPPED
        return self._processor.process(photo.id)

    def object_removed(self, key: str) -> bool:
        """Remove the variants and the record of a deleted original; False if unknown."""
        if self._originals.head(key) is not None:
            # A late removal event for a key that was uploaded again since.
            log.info("original %s: still there, removal event ignored", key)
            return False
        return self._cleanup.object_removed(key)

    def give_up(self, key: str, reason: str) -> None:
        """Mark the photo under `key` failed: its event will not be retried again."""
        try:
            photo = self._catalog.get_by_key(key)
        except NotFound:
            return
        self._processor.fail(photo.id, reason)

    def _photo_for(self, key: str) -> Photo | None:
        try:
            return self._catalog.get_by_key(key)
        except NotFound:
            pass
        if keys.photo_id_from_key(key) is not None:
            # darkroom named it, so the photo was deleted since, or the upload that stored
            # it has not added the record yet and its own job will process it.
            log.info("original %s: no record, nothing to do", key)
            return None
        info = self._originals.head(key)
        if info is None:
            log.info("original %s: gone before its event was handled", key)
            return None
        owner = self._owner()
        now = self._now()
        photo_id = keys.new_photo_id()
        photo = Photo(
            id=photo_id,
            owner=owner,
            key=key,
            filename=clean_filename(PurePosixPath(key).name) or "photo",
            created_at=now,
            updated_at=now,
            status=PhotoStatus.PENDING,
            content_type=info.content_type,
            size=info.size,
        )
        try:
            self._catalog.add(photo)
        except Conflict:
            return self._catalog.get_by_key(key)
        log.info("photo %s: adopted %s, stored without darkroom", photo.id, key)
        return photo
