"""The gallery's use cases: upload (direct or presigned), list, get, describe, delete."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath

from darkroom import correlation, keys
from darkroom.domain import Job, Page, Photo, PhotoStatus, SignedRequest
from darkroom.errors import Conflict, NotFound, TooLarge, Unsupported
from darkroom.imaging import BY_CONTENT_TYPE, SNIFF_BYTES, detect
from darkroom.ports import BlobStore, Catalog, JobQueue, Transactions
from darkroom.services.cleanup import Cleanup

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 2000
LOCAL_OWNER = "local"
"""The one user of a darkroom running without sign-in (DARKROOM_AUTH=none)."""
FINAL_STATES = frozenset({PhotoStatus.READY, PhotoStatus.FAILED, PhotoStatus.DUPLICATE})


@dataclass(frozen=True, slots=True)
class Uploaded:
    photo: Photo
    duplicate: bool


@dataclass(frozen=True, slots=True)
class PendingUpload:
    photo: Photo
    request: SignedRequest


def utcnow() -> datetime:
    return datetime.now(UTC)


class Gallery:
    def __init__(
        self,
        originals: BlobStore,
        variants: BlobStore,
        catalog: Catalog,
        queue: JobQueue,
        transactions: Transactions,
        cleanup: Cleanup,
        *,
        max_upload_bytes: int,
        upload_url_ttl: int,
        download_url_ttl: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.originals = originals
        self.variants = variants
        self.catalog = catalog
        self._queue = queue
        self._transactions = transactions
        self._cleanup = cleanup
        self.max_upload_bytes = max_upload_bytes
        self._upload_ttl = upload_url_ttl
        self._download_ttl = download_url_ttl
        self._now = clock

    def upload(
        self, owner: str, data: bytes, filename: str = "", description: str = ""
    ) -> Uploaded:
        """Store an original and queue its processing. The same bytes from the same owner
        give back the photo already made of them, unless it failed: sent again, they are
        rendered anew, as the failure may have been the store's, or the limits' of the time
        (the processor passes the claim on such bytes on, for those sent through a ticket)."""
        if len(data) > self.max_upload_bytes:
            raise TooLarge(f"the file is over the limit of {self.max_upload_bytes} bytes")
        if not data:
            raise Unsupported("the file is empty")
        fmt = detect(data[:SNIFF_BYTES])
        digest = hashlib.sha256(data).hexdigest()
        for existing in self.catalog.find_by_hash(owner, digest):
            if existing.status in (PhotoStatus.DUPLICATE, PhotoStatus.FAILED):
                continue
            # One whose original is gone is being deleted (or its deletion was cut short),
            # one with other bytes there is about to be made of those: answering with it
            # would lose these bytes.
            if holds_its_bytes(self.originals, existing):
                log.info("photo %s: same bytes uploaded again", existing.id)
                return Uploaded(existing, duplicate=True)
        now = self._now()
        photo_id = keys.new_photo_id()
        photo = Photo(
            id=photo_id,
            owner=owner,
            key=keys.original_key(photo_id, now, fmt.extension),
            filename=clean_filename(filename) or f"photo.{fmt.extension}",
            description=clean_description(description),
            created_at=now,
            updated_at=now,
            content_type=fmt.content_type,
            size=len(data),
            sha256=digest,
        )
        self.originals.put(photo.key, data, fmt.content_type)
        try:
            self._add_and_enqueue(photo)
        except Exception:
            # The caller is told the upload failed: no original may stay behind without its
            # record (`doctor` removes it should this delete fail too).
            _forget(self.originals, photo.key)
            raise
        log.info("photo %s: stored %s (%d bytes)", photo.id, photo.key, photo.size)
        return Uploaded(photo, duplicate=False)

    def start_upload(
        self, owner: str, filename: str, content_type: str, size: int | None, description: str
    ) -> PendingUpload:
        """A signed request that lets the client send the bytes straight to the store."""
        fmt = BY_CONTENT_TYPE.get(content_type.lower().split(";")[0].strip())
        if fmt is None:
            raise Unsupported(
                f"content type {content_type[:60]!r} is not an image darkroom accepts"
            )
        if size is not None and size > self.max_upload_bytes:
            raise TooLarge(f"{size} bytes is over the limit of {self.max_upload_bytes} bytes")
        now = self._now()
        photo_id = keys.new_photo_id()
        photo = Photo(
            id=photo_id,
            owner=owner,
            key=keys.original_key(photo_id, now, fmt.extension),
            filename=clean_filename(filename) or f"photo.{fmt.extension}",
            description=clean_description(description),
            created_at=now,
            updated_at=now,
            status=PhotoStatus.UPLOADING,
            content_type=fmt.content_type,
        )
        self.catalog.add(photo)
        # The declared size, when given, binds the request: an S3 PUT can sign only one
        # exact Content-Length, and a smaller bound is safer for every store.
        request = self.originals.presign_put(
            photo.key, fmt.content_type, size or self.max_upload_bytes, self._upload_ttl
        )
        return PendingUpload(photo, request)

    def complete_upload(self, owner: str, photo_id: str) -> Photo:
        """Start processing of a presigned upload whose store sends no events. Idempotent."""
        photo = self.get(owner, photo_id)
        if photo.status is not PhotoStatus.UPLOADING:
            return photo
        info = self.originals.head(photo.key)
        if info is None:
            raise NotFound(f"nothing has been uploaded for photo {photo_id} yet")
        try:
            with self._transactions.atomic():
                photo = self.catalog.update(
                    photo.evolve(status=PhotoStatus.PENDING, size=info.size, updated_at=self._now())
                )
                self._queue.enqueue(self._job(photo.id))
        except Conflict:
            return self.get(owner, photo_id)
        return photo

    def get(self, owner: str | None, photo_id: str) -> Photo:
        """Someone else's photo is as unknown as a missing one."""
        photo = self.catalog.get(photo_id)
        if owner is not None and photo.owner != owner:
            raise NotFound(f"no photo {photo_id!r}")
        return photo

    def get_many(self, owner: str | None, photo_ids: Collection[str]) -> dict[str, Photo]:
        """Those of the photos that exist and are `owner`'s, by id, in one catalog read;
        someone else's are left out, as missing ones are."""
        found = self.catalog.get_many(photo_ids)
        return {i: p for i, p in found.items() if owner is None or p.owner == owner}

    def get_by_key(self, owner: str | None, key: str) -> Photo:
        photo = self.catalog.get_by_key(key)
        if owner is not None and photo.owner != owner:
            raise NotFound(f"no photo stored under {key!r}")
        return photo

    def list(self, owner: str, limit: int = 50, cursor: str | None = None) -> Page[Photo]:
        return self.catalog.list(owner, limit, cursor)

    def describe(self, owner: str, photo_id: str, description: str) -> Photo:
        text = clean_description(description)
        for _ in range(5):
            photo = self.get(owner, photo_id)
            try:
                return self.catalog.update(photo.evolve(description=text, updated_at=self._now()))
            except Conflict:
                continue
        raise Conflict(f"photo {photo_id} keeps changing; try again")

    def delete(self, owner: str | None, photo_id: str) -> None:
        """Original first: if anything fails after it, the removal event (or `doctor`)
        finishes the job, and no variant outlives its record."""
        photo = self.get(owner, photo_id)
        self.originals.delete(photo.key)
        self._cleanup.remove(photo)

    def original_url(self, photo: Photo) -> SignedRequest:
        """Served as the type the record names, which processing sets to what the bytes
        are: a presigned upload may have declared another, which the stored object keeps."""
        return self.originals.presign_get(
            photo.key, self._download_ttl, photo.filename, photo.content_type or None
        )

    def variant_url(self, photo: Photo, name: str) -> SignedRequest:
        variant = photo.variant(name)
        if variant is None:
            raise NotFound(f"photo {photo.id} has no variant {name!r}")
        return self.variants.presign_get(variant.key, self._download_ttl)

    def _add_and_enqueue(self, photo: Photo) -> None:
        with self._transactions.atomic():
            self.catalog.add(photo)
            self._queue.enqueue(self._job(photo.id))

    def _job(self, photo_id: str) -> Job:
        now = self._now()
        return Job(
            id=uuid.uuid4().hex,
            photo_id=photo_id,
            created_at=now,
            run_at=now,
            correlation_id=correlation.current(),
        )

    def enqueue(self, photo_id: str) -> None:
        """Queue (re)processing of one photo; the processor skips what is already done."""
        self._queue.enqueue(self._job(photo_id))


def _forget(store: BlobStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:
        log.warning("original %s: left behind by a failed upload", key, exc_info=True)


def holds_its_bytes(originals: BlobStore, photo: Photo) -> bool:
    """Whether the photo's original is there, with as many bytes as the photo was made
    from: bytes of another size written over its key since (an upload URL used twice,
    `aws s3 cp`), their event still on its way, are not the bytes it was made from."""
    info = originals.head(photo.key)
    return info is not None and (not photo.size or info.size == photo.size)


def clean_filename(name: str) -> str:
    """The last path component of what the user called the file, printable, at most 200
    characters. Display data only: storage keys never come from it."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return "" if base in ("", ".", "..") else base[:200]


def clean_description(text: str) -> str:
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()[:MAX_DESCRIPTION]
