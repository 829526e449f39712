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
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from darkroom import keys
from darkroom.domain import PROCESS, JobState, Photo, PhotoStatus
from darkroom.errors import Conflict, NotFound
from darkroom.ports import BlobStore, Catalog, JobQueue, Leftovers, iterate_blobs
from darkroom.services.cleanup import Cleanup
from darkroom.services.gallery import Gallery, utcnow

log = logging.getLogger(__name__)

IN_FLIGHT = frozenset({PhotoStatus.PENDING, PhotoStatus.PROCESSING})


class Problem(StrEnum):
    ORPHAN_VARIANT = "variant without record"
    ORPHAN_ORIGINAL = "original without record"
    FOREIGN_ORIGINAL = "original without record, not named by darkroom"
    MISSING_ORIGINAL = "record without original"
    MISSING_VARIANT = "record with a variant missing"
    LOST_DUPLICATE = "duplicate of a photo that is gone"
    NO_JOB = "photo no job will finish"
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
    Problem.UNCOMPLETED_UPLOAD: "completed: queued for processing",
    Problem.UNFINISHED_WRITE: "deleted",
}


@dataclass(frozen=True, slots=True)
class Finding:
    problem: Problem
    subject: str
    """The object's key or the photo's id."""


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
        settled = self._now() - timedelta(seconds=grace)
        # Variants before records: a variant is written after its photo's record is made
        # and while it is `processing`, so every variant listed has its record, in flight or
        # naming it, in the records listed next. Listed after them, the variants of a photo
        # uploaded and processed in between would look like orphans.
        variant_keys = [blob.key for blob in iterate_blobs(self._variants)]
        photos = {p.id: p for p in self._photos()}
        by_key = {p.key: p for p in photos.values()}
        findings = self._stray_originals(by_key, settled)
        named = {v.key for p in photos.values() for v in p.variants}
        for key in variant_keys:
            if key not in named and not _in_flight(photos.get(key.split("/", 1)[0])):
                findings.append(Finding(Problem.ORPHAN_VARIANT, key))
        queued = {
            job.photo_id
            for job in self._queue.jobs(frozenset({JobState.QUEUED, JobState.RUNNING}), 1_000_000)
            if job.kind == PROCESS
        }
        for photo in photos.values():
            findings += self._check(photo, settled, queued, photos)
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
            self._requeue(subject)
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

    def _stray_originals(self, by_key: dict[str, Photo], settled: datetime) -> list[Finding]:
        found = []
        for blob in iterate_blobs(self._originals):
            if blob.key in by_key:
                continue
            named_at = keys.named_at(blob.key)
            if named_at is None:
                found.append(Finding(Problem.FOREIGN_ORIGINAL, blob.key))
            elif named_at < settled:
                found.append(Finding(Problem.ORPHAN_ORIGINAL, blob.key))
        return found

    def _check(
        self, photo: Photo, settled: datetime, queued: set[str], photos: dict[str, Photo]
    ) -> Iterator[Finding]:
        if photo.status is PhotoStatus.DUPLICATE:
            # Deleting a photo removes its duplicates first; one can still outlive it when
            # it was marked while that photo was being deleted.
            if photo.duplicate_of not in photos:
                yield Finding(Problem.LOST_DUPLICATE, photo.id)
            return
        if self._originals.head(photo.key) is None:
            if photo.status is not PhotoStatus.UPLOADING or photo.updated_at < settled:
                yield Finding(Problem.MISSING_ORIGINAL, photo.id)
            return
        if photo.status is PhotoStatus.UPLOADING:
            # The bytes are in but no completion came (a client or a server that stopped
            # between the two, an event lost): nothing else will ever process them.
            if photo.id not in queued and photo.updated_at < settled:
                yield Finding(Problem.UNCOMPLETED_UPLOAD, photo.id)
        elif photo.status is PhotoStatus.READY:
            if any(self._variants.head(v.key) is None for v in photo.variants):
                yield Finding(Problem.MISSING_VARIANT, photo.id)
        elif photo.status in IN_FLIGHT and photo.id not in queued and photo.updated_at < settled:
            yield Finding(Problem.NO_JOB, photo.id)

    def _requeue(self, photo_id: str) -> None:
        photo = self._photo(photo_id)
        if photo is None:
            return
        if photo.status is PhotoStatus.READY:
            # The processor skips a ready photo whose original it already rendered.
            try:
                self._catalog.update(
                    photo.evolve(status=PhotoStatus.PENDING, updated_at=self._now())
                )
            except (Conflict, NotFound):
                return
        self._gallery.enqueue(photo_id)

    def _photo(self, photo_id: str) -> Photo | None:
        try:
            return self._catalog.get(photo_id)
        except NotFound:
            return None

    def _photos(self) -> Iterator[Photo]:
        return self._catalog.every()


def _in_flight(photo: Photo | None) -> bool:
    return photo is not None and photo.status in IN_FLIGHT
