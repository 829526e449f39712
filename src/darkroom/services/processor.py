"""Processing of one original: validate, render every variant, record, notify.

Events arrive twice, late and out of order, so this is idempotent on the photo id and
the original's SHA-256 (with the recipe of the variants), and a late event for a
deleted photo does nothing.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from darkroom import correlation, keys
from darkroom.domain import Photo, PhotoStatus, Run, Variant, VariantSpec, recipe_of
from darkroom.errors import PERMANENT_IMAGE_ERRORS, Conflict, NotFound
from darkroom.imaging import ENGINE, Developed, Limits, Watermark, develop
from darkroom.ports import BlobStore, Catalog, Developer, Meter, Notifier
from darkroom.services.gallery import holds_its_bytes, utcnow
from darkroom.services.telemetry import Stages

log = logging.getLogger(__name__)

_SAVE_ATTEMPTS = 8
_SETTLED = frozenset({PhotoStatus.READY, PhotoStatus.FAILED, PhotoStatus.DUPLICATE})
_NOT_KEEPING = frozenset({PhotoStatus.FAILED, PhotoStatus.DUPLICATE})
"""Photos a claim on bytes may name that keep no rendering of them for a copy to share."""


class Outcome(StrEnum):
    READY = "ready"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


class Processor:
    def __init__(
        self,
        originals: BlobStore,
        variants: BlobStore,
        catalog: Catalog,
        notifier: Notifier,
        specs: tuple[VariantSpec, ...],
        limits: Limits,
        *,
        include_gps: bool = False,
        watermark: Watermark | None = None,
        meter: Meter | None = None,
        clock: Callable[[], datetime] = utcnow,
        developer: Developer = develop,
    ) -> None:
        self._originals = originals
        self._variants = variants
        self._catalog = catalog
        self._notifier = notifier
        self._specs = specs
        self._limits = limits
        self._include_gps = include_gps
        self._watermark = watermark
        self._meter = meter
        self._now = clock
        self._develop = developer
        self.recipe = recipe_of(specs, ENGINE, watermark.fingerprint if watermark else "")

    def developing_with(self, developer: Developer) -> Processor:
        """This processor, with its originals rendered by `developer`."""
        twin = copy.copy(self)
        twin._develop = developer
        return twin

    def process(self, photo_id: str) -> Outcome:
        """Raises only for transient trouble (a store or the catalog not answering);
        everything the image itself is to blame for ends as `failed` with a reason."""
        stages = Stages()
        started = time.perf_counter()
        try:
            outcome = self._process(photo_id, stages)
        except Exception:
            self._measure(photo_id, "error", started, stages)
            raise
        if outcome is not Outcome.SKIPPED:
            self._measure(photo_id, outcome.value, started, stages)
        return outcome

    def _measure(self, photo_id: str, outcome: str, started: float, stages: Stages) -> None:
        if self._meter is not None:
            seconds = time.perf_counter() - started
            run = Run(
                photo_id, self._now(), outcome, seconds, stages.seconds, correlation.current()
            )
            self._meter.record(run)

    def _process(self, photo_id: str, stages: Stages) -> Outcome:
        try:
            photo = self._catalog.get(photo_id)
        except NotFound:
            log.info("photo %s: gone, nothing to process", photo_id)
            return Outcome.SKIPPED
        if photo.status is PhotoStatus.DUPLICATE:
            # Its original went when it was found to be a copy: a late event (S3 sends each
            # at least once) finds nothing to read, and must not call that a failure.
            return Outcome.SKIPPED
        try:
            with stages("read"):
                data = self._originals.get(photo.key)
        except NotFound:
            if photo.status is PhotoStatus.UPLOADING:
                log.info("photo %s: not uploaded yet", photo.id)
                return Outcome.SKIPPED
            if photo.status is PhotoStatus.READY:
                # A late event for an original deleted since: its removal takes the photo
                # (or `doctor` does), which must not be told it failed meanwhile.
                log.info("photo %s: its original is gone; left to its removal", photo.id)
                return Outcome.SKIPPED
            return self._fail(photo, "the original is missing from the store")
        digest = hashlib.sha256(data).hexdigest()
        # A photo made ready from these bytes is the copy others point at: rendered again,
        # it is not to become a copy itself.
        kept = photo.status is PhotoStatus.READY and photo.sha256 == digest
        if kept and photo.recipe == self.recipe:
            log.info("photo %s: already processed", photo.id)
            return Outcome.SKIPPED
        original = None if kept else self._kept_copy(photo, digest) or self._keeper(photo, digest)
        if original is not None:
            return self._mark_duplicate(photo, original, digest)

        photo = (
            self._save(photo.id, status=PhotoStatus.PROCESSING, reason="", sha256=digest) or photo
        )
        try:
            with stages("render"):
                developed = self._develop(
                    data, self._specs, self._limits, self._include_gps, self._watermark
                )
        except PERMANENT_IMAGE_ERRORS as exc:
            return self._fail(photo, str(exc), sha256=digest, size=len(data))
        with stages("write"):
            written = self._write_variants(photo, developed)
        with stages("record"):
            saved = self._save(
                photo.id,
                status=PhotoStatus.READY,
                reason="",
                sha256=digest,
                size=len(data),
                content_type=developed.info.format.content_type,
                width=developed.info.width,
                height=developed.info.height,
                metadata=dict(developed.info.metadata),
                variants=written,
                recipe=self.recipe,
                blurhash=developed.blurhash,
            )
        if saved is None:
            log.info("photo %s: deleted while processing; dropping its variants", photo.id)
            self._delete_variants(written, keep=())
            return Outcome.SKIPPED
        self._delete_variants(photo.variants, keep=written)
        log.info("photo %s: ready with %d variants", photo.id, len(written))
        with stages("notify"):
            self._notify(saved)
        return Outcome.READY

    def fail(self, photo_id: str, reason: str) -> None:
        """Give up on a photo after its job ran out of attempts. A photo an attempt left
        ready, failed or a duplicate keeps that: the attempt that failed after it did so
        past the photo's processing (or with a reprocessing that never started), and a
        failure already recorded says more than this one."""
        try:
            photo = self._catalog.get(photo_id)
        except NotFound:
            return
        if photo.status in _SETTLED:
            log.info("photo %s: stays %s, not failed: %s", photo.id, photo.status, reason)
            return
        self._fail(photo, reason)

    def _kept_copy(self, photo: Photo, digest: str) -> Photo | None:
        """Another photo of this owner made ready from the same bytes, found by the
        catalog's index of digests: what a photo kept before there were claims
        (`_keeper`) is found by. One being deleted (its original goes first) is passed
        over: it would take this copy with it."""
        for other in self._catalog.find_by_hash(photo.owner, digest):
            if other.id != photo.id and other.status is PhotoStatus.READY and self._stored(other):
                return other
        return None

    def _keeper(self, photo: Photo, digest: str) -> Photo | None:
        """The photo that keeps these bytes, if not this one. An index of digests may lag
        (DynamoDB's does) and copies processed at once may each be looking before the other
        has recorded anything: the catalog's claim makes exactly one of them the keeper,
        before either renders. A keeper since deleted, being deleted, itself a copy,
        failed, or given other bytes since passes its claim on: a copy pointing at a
        failure would lose its bytes with nothing made of them, where they may render now
        (the failure may have been the store's, or the limits' of the time), and one
        pointing at other bytes would lose them altogether."""
        keeper_id = self._catalog.claim_bytes(photo.owner, digest, photo.id)
        for _ in range(_SAVE_ATTEMPTS):
            if keeper_id == photo.id:
                return None
            try:
                keeper: Photo | None = self._catalog.get(keeper_id)
            except NotFound:
                keeper = None
            if keeper and self._keeps(keeper, digest):
                return keeper
            keeper_id = self._catalog.claim_bytes(
                photo.owner, digest, photo.id, replacing=keeper_id
            )
        raise Conflict(f"photo {photo.id}: the keeper of its bytes kept changing")

    def _keeps(self, keeper: Photo, digest: str) -> bool:
        # A digest not recorded yet is a presigned upload's whose processing claimed the
        # bytes and has not saved it: these bytes, as far as anything can tell.
        return (
            keeper.status not in _NOT_KEEPING
            and keeper.sha256 in ("", digest)
            and self._stored(keeper)
        )

    def _stored(self, photo: Photo) -> bool:
        return holds_its_bytes(self._originals, photo)

    def _mark_duplicate(self, photo: Photo, original: Photo, digest: str) -> Outcome:
        saved = self._save(
            photo.id,
            status=PhotoStatus.DUPLICATE,
            duplicate_of=original.id,
            sha256=digest,
            reason=f"same bytes as photo {original.id}",
        )
        if saved is not None:
            # The record stays as a pointer for clients polling this id; the bytes are
            # already kept once, under the photo that keeps them.
            self._originals.delete(photo.key)
            self._delete_variants(photo.variants, keep=())
        log.info("photo %s: duplicate of %s", photo.id, original.id)
        return Outcome.DUPLICATE

    def _write_variants(self, photo: Photo, developed: Developed) -> tuple[Variant, ...]:
        written = []
        for rendered in developed.variants:
            digest = hashlib.sha256(rendered.data).hexdigest()
            key = keys.variant_key(photo.id, rendered.name, digest, rendered.extension)
            self._variants.put(key, rendered.data, rendered.content_type)
            written.append(
                Variant(
                    rendered.name,
                    key,
                    rendered.width,
                    rendered.height,
                    rendered.content_type,
                    len(rendered.data),
                )
            )
        return tuple(written)

    def _delete_variants(self, variants: tuple[Variant, ...], keep: tuple[Variant, ...]) -> None:
        kept = {v.key for v in keep}
        for variant in variants:
            if variant.key not in kept:
                self._variants.delete(variant.key)

    def _fail(self, photo: Photo, reason: str, **changes: object) -> Outcome:
        log.warning("photo %s: failed: %s", photo.id, reason)
        saved = self._save(photo.id, status=PhotoStatus.FAILED, reason=reason, **changes)
        if saved is not None:
            self._notify(saved)
        return Outcome.FAILED

    def _save(self, photo_id: str, **changes: object) -> Photo | None:
        """Apply `changes` to the latest version of the record; None if it was deleted.
        Other writers (a description edit) may win a race: re-read and apply again."""
        for _ in range(_SAVE_ATTEMPTS):
            try:
                current = self._catalog.get(photo_id)
                return self._catalog.update(current.evolve(updated_at=self._now(), **changes))
            except NotFound:
                return None
            except Conflict:
                continue
        raise Conflict(f"photo {photo_id} kept changing while being saved")

    def _notify(self, photo: Photo) -> None:
        try:
            self._notifier.photo_processed(photo)
        except Exception:  # a notification never undoes or repeats the processing
            log.exception("photo %s: notification failed", photo.id)
