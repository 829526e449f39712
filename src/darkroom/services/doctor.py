"""`darkroom doctor`: what a crash, an outage or a lost event can leave behind, and its repair.

Checks both directions between the stores and the catalog (objects nobody's record names,
records whose objects are gone) and photos that no job will ever finish. Anything that
may still be on its way (an upload being stored, a photo being processed) is left alone
for `grace` seconds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from darkroom import keys
from darkroom.domain import PROCESS, Claim, Photo, PhotoStatus
from darkroom.errors import Conflict, NotFound
from darkroom.ports import BlobStore, Catalog, JobQueue, Leftovers
from darkroom.services.cleanup import Cleanup
from darkroom.services.gallery import Gallery, utcnow

log = logging.getLogger(__name__)

IN_FLIGHT = frozenset({PhotoStatus.PENDING, PhotoStatus.PROCESSING})
_PAGE = 500
"""Records checked together, and keys listed at once: the records the doctor holds."""


class Problem(StrEnum):
    ORPHAN_VARIANT = "variant without record"
    ORPHAN_ORIGINAL = "original without record"
    FOREIGN_ORIGINAL = "original without record, not named by darkroom"
    MISSING_ORIGINAL = "record without original"
    MISSING_VARIANT = "record with a variant missing"
    LOST_DUPLICATE = "duplicate of a photo that is gone"
    NO_JOB = "photo no job will finish"
    LEFT_CLAIM = "claim on bytes naming a photo that is gone"
    UNCOMPLETED_UPLOAD = "upload stored but never completed"
    UNFINISHED_WRITE = "temporary file of a write cut short"


REPAIRS = {
    Problem.ORPHAN_VARIANT: "variant deleted",
    Problem.ORPHAN_ORIGINAL: "original deleted (its upload never finished)",
    Problem.FOREIGN_ORIGINAL: "left alone: an ObjectCreated event adopts it",
    Problem.MISSING_ORIGINAL: "record and variants removed",
    Problem.MISSING_VARIANT: "queued for processing again",
    Problem.LOST_DUPLICATE: "record removed (with its original, if one was left)",
    Problem.NO_JOB: "queued for processing again",
    Problem.LEFT_CLAIM: "claim removed",
    Problem.UNCOMPLETED_UPLOAD: "completed: queued for processing",
    Problem.UNFINISHED_WRITE: "deleted",
}


@dataclass(frozen=True, slots=True)
class Finding:
    problem: Problem
    subject: str
    """The object's key, the photo's id, or a claim as `<photo id>:<sha256>:<owner>`."""
    version: int | None = field(default=None, compare=False)
    """The version of the photo the examination saw, where the repair rewrites the photo:
    a photo written since (processed, deleted) is left as it is now."""


class Doctor:
    def __init__(
        self,
        originals: BlobStore,
        variants: BlobStore,
        catalog: Catalog,
        queue: JobQueue,
        gallery: Gallery,
        cleanup: Cleanup,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._originals = originals
        self._variants = variants
        self._stores: dict[str, object] = {"originals": originals, "variants": variants}
        self._catalog = catalog
        self._queue = queue
        self._gallery = gallery
        self._cleanup = cleanup
        self._now = clock

    def examine(self, grace: float = 3600.0) -> list[Finding]:
        """Goes through the stores and the catalog a page at a time, holding one page of keys
        or records (and the photos that may be waiting for a job) at once, never all."""
        settled = self._now() - timedelta(seconds=grace)
        findings: list[Finding] = []
        for keys_listed in _pages(self._variants):
            findings += self._stray_variants(keys_listed)
        waiting: list[Photo] = []
        findings += self._check_every_record(settled, waiting)
        # The queue asked after the records, as before: a job that finished in between
        # leaves its photo found, which `repair` reads again before it queues anything.
        for photos in _batched(iter(waiting), _PAGE):
            queued = self._queue.with_jobs({photo.id for photo in photos}, PROCESS)
            findings += [
                Finding(
                    Problem.UNCOMPLETED_UPLOAD
                    if photo.status is PhotoStatus.UPLOADING
                    else Problem.NO_JOB,
                    photo.id,
                    photo.version,
                )
                for photo in photos
                if photo.id not in queued
            ]
        for keys_listed in _pages(self._originals):
            findings += self._stray_originals(keys_listed, settled)
        for role, store in self._stores.items():
            if isinstance(store, Leftovers):
                findings += [
                    Finding(Problem.UNFINISHED_WRITE, f"{role}:{name}")
                    for name in store.leftovers(settled)
                ]
        return findings

    def repair(self, finding: Finding) -> None:
        """Idempotent; what changed since `examine` is checked again first."""
        problem, subject = finding.problem, finding.subject
        if problem is Problem.ORPHAN_VARIANT:
            # Its photo may have been processed since: only a variant still unnamed goes.
            owner = self._photo(subject.split("/", 1)[0])
            named = {v.key for v in owner.variants} if owner is not None else set()
            if subject not in named and not _in_flight(owner):
                self._variants.delete(subject)
        elif problem is Problem.ORPHAN_ORIGINAL:
            try:
                self._catalog.get_by_key(subject)
            except NotFound:
                self._originals.delete(subject)
        elif problem is Problem.MISSING_ORIGINAL:
            photo = self._photo(subject)
            if photo is not None and self._originals.head(photo.key) is None:
                self._cleanup.remove(photo)
        elif problem is Problem.LOST_DUPLICATE:
            photo = self._photo(subject)
            if (
                photo is not None
                and photo.status is PhotoStatus.DUPLICATE
                and self._photo(photo.duplicate_of) is None
            ):
                self._cleanup.remove_duplicate(photo)
        elif problem in (Problem.MISSING_VARIANT, Problem.NO_JOB):
            self._requeue(subject, finding.version)
        elif problem is Problem.LEFT_CLAIM:
            held_by, sha256, claimant = subject.split(":", 2)
            if self._photo(held_by) is None:
                self._catalog.release(Claim(claimant, sha256, held_by))
        elif problem is Problem.UNCOMPLETED_UPLOAD:
            photo = self._photo(subject)
            if photo is not None:
                with contextlib.suppress(NotFound):  # its original went meanwhile
                    self._gallery.complete_upload(photo.owner, photo.id)
        elif problem is Problem.UNFINISHED_WRITE:
            role, _, leftover = subject.partition(":")
            store = self._stores.get(role)
            if isinstance(store, Leftovers):
                store.remove_leftover(leftover)
        log.info("doctor: %s %s: %s", problem, subject, REPAIRS[problem])

    def _stray_variants(self, page: list[str]) -> list[Finding]:
        # Each page of variants is compared with the records of its photos read right after
        # it is listed: a variant is written after its photo's record is made and while it is
        # `processing`, so every variant listed has its record, in flight or naming it, in
        # the records read next. Read before it was listed, the record of a photo uploaded
        # and processed in between would be missing, and its variants would look like orphans.
        found = []
        owners = self._catalog.get_many({key.split("/", 1)[0] for key in page})
        for key in page:
            owner = owners.get(key.split("/", 1)[0])
            if _in_flight(owner):
                continue
            if owner is None or all(v.key != key for v in owner.variants):
                found.append(Finding(Problem.ORPHAN_VARIANT, key))
        return found

    def _left_claims(self, page: list[Claim]) -> list[Finding]:
        # A claim is made by processing a photo that has its record, so one read before
        # its photo is looked up and naming none names a photo deleted: its id never
        # comes back.
        if not page:
            return []
        present = self._catalog.get_many({claim.photo_id for claim in page})
        return [
            Finding(Problem.LEFT_CLAIM, f"{claim.photo_id}:{claim.sha256}:{claim.owner}")
            for claim in page
            if claim.photo_id not in present
        ]

    def _stray_originals(self, page: list[str], settled: datetime) -> list[Finding]:
        # Each page of originals is looked up in the catalog after it is listed: by the photo
        # id darkroom's keys carry, then by key for the rest (a key named otherwise, adopted
        # by its ObjectCreated event). An original listed whose record is gone by then was
        # being deleted (the original goes first); one whose record is not made yet was named
        # within `grace`.
        found = []
        ids = {key: keys.photo_id_from_key(key) for key in page}
        records = self._catalog.get_many({i for i in ids.values() if i})
        for key, photo_id in ids.items():
            record = records.get(photo_id) if photo_id else None
            if record is not None and record.key == key:
                continue
            try:
                self._catalog.get_by_key(key)
                continue
            except NotFound:
                pass
            named_at = keys.named_at(key)
            if named_at is None:
                found.append(Finding(Problem.FOREIGN_ORIGINAL, key))
            elif named_at < settled:
                found.append(Finding(Problem.ORPHAN_ORIGINAL, key))
        return found

    def _check_every_record(self, settled: datetime, waiting: list[Photo]) -> list[Finding]:
        """The photos and the claims on bytes, each checked a page at a time."""
        found: list[Finding] = []
        records: list[Photo] = []
        claims: list[Claim] = []
        for read in self._catalog.every_with_claims():
            if isinstance(read, Claim):
                claims.append(read)
            else:
                records.append(read)
            if len(records) == _PAGE:
                found += self._check_records(records, settled, waiting)
                records = []
            if len(claims) == _PAGE:
                found += self._left_claims(claims)
                claims = []
        return found + self._check_records(records, settled, waiting) + self._left_claims(claims)

    def _check_records(
        self, records: list[Photo], settled: datetime, waiting: list[Photo]
    ) -> list[Finding]:
        lost = {p.duplicate_of for p in records if p.status is PhotoStatus.DUPLICATE}
        present = set(self._catalog.get_many(lost)) if lost else set()
        found: list[Finding] = []
        for photo in records:
            found += self._check(photo, settled, present, waiting)
        return found

    def _check(
        self, photo: Photo, settled: datetime, present: set[str], waiting: list[Photo]
    ) -> Iterator[Finding]:
        """What is wrong with one record; a photo that only a job can finish goes into
        `waiting`, to be compared with the queue once every record has been read."""
        if photo.status is PhotoStatus.DUPLICATE:
            # Deleting a photo removes its duplicates first; one can still outlive it when
            # it was marked while that photo was being deleted.
            if photo.duplicate_of not in present:
                yield Finding(Problem.LOST_DUPLICATE, photo.id)
            return
        if self._originals.head(photo.key) is None:
            if photo.status is not PhotoStatus.UPLOADING or photo.updated_at < settled:
                yield Finding(Problem.MISSING_ORIGINAL, photo.id)
            return
        if photo.status is PhotoStatus.UPLOADING:
            # The bytes are in but no completion came (a client or a server that stopped
            # between the two, an event lost): nothing else will ever process them.
            if photo.updated_at < settled:
                waiting.append(photo)
        elif photo.status is PhotoStatus.READY:
            if any(self._variants.head(v.key) is None for v in photo.variants):
                yield Finding(Problem.MISSING_VARIANT, photo.id, photo.version)
        elif photo.status in IN_FLIGHT and photo.updated_at < settled:
            waiting.append(photo)

    def _requeue(self, photo_id: str, seen: int | None) -> None:
        """Queues the photo again if it is still the version the examination saw: the write
        of the record, conditional on that version, is what the job waits for, so a photo
        processed or deleted in between (by a job that finished after the queue was asked)
        is left alone, never taken back to `pending` or queued for nothing."""
        photo = self._photo(photo_id)
        if photo is None or (seen is not None and photo.version != seen):
            return
        # The processor skips a ready photo whose original it already rendered.
        status = PhotoStatus.PENDING if photo.status is PhotoStatus.READY else photo.status
        try:
            self._catalog.update(photo.evolve(status=status, updated_at=self._now()))
        except (Conflict, NotFound):
            return
        self._gallery.enqueue(photo_id)

    def _photo(self, photo_id: str) -> Photo | None:
        try:
            return self._catalog.get(photo_id)
        except NotFound:
            return None


def _in_flight(photo: Photo | None) -> bool:
    return photo is not None and photo.status in IN_FLIGHT


def _pages(store: BlobStore) -> Iterator[list[str]]:
    """The store's keys, a listing's page at a time."""
    after = ""
    while page := [blob.key for blob in store.list("", after=after, limit=_PAGE)]:
        yield page
        after = page[-1]


def _batched(photos: Iterator[Photo], size: int) -> Iterator[list[Photo]]:
    batch: list[Photo] = []
    for photo in photos:
        batch.append(photo)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
