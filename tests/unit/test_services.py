"""The use cases on memory adapters: upload, dedupe, processing, retries, deletion."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import pytest

from darkroom import keys
from darkroom.adapters.memory import MemoryNotifier
from darkroom.bootstrap import Darkroom
from darkroom.domain import BlobInfo, Job, JobState, Photo, PhotoStatus, VariantSpec
from darkroom.errors import BadRequest, NotFound, TooLarge, Unavailable, Unsupported
from darkroom.imaging import Developed, Limits, Watermark, develop
from darkroom.ports import Developer
from darkroom.services.gallery import clean_filename
from darkroom.services.processor import Outcome
from darkroom.services.worker import RetryPolicy, Worker
from tests.corpus import corpus
from tests.unit.presigned import presigned

JPEG = "S01_canon_sd300_2mp.jpg"
OTHER_JPEG = "C01_cmyk_canon300d.jpg"


def _process_all(dr: Darkroom) -> int:
    return dr.worker().drain()


def test_upload_stores_original_and_queues_processing(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    uploaded = dr.gallery.upload("ann", corpus(JPEG), "holiday.jpg", "at the beach")
    photo = uploaded.photo
    assert photo.status is PhotoStatus.PENDING
    assert dr.originals.get(photo.key) == corpus(JPEG)
    assert photo.key.endswith(f"_{photo.id}.jpg")
    assert _process_all(dr) == 1
    ready = dr.catalog.get(photo.id)
    assert ready.status is PhotoStatus.READY
    assert (ready.width, ready.height) == (1600, 1200)
    assert {v.name for v in ready.variants} == {"thumb", "w150", "w320", "w640", "w1024", "display"}
    for variant in ready.variants:
        assert dr.variants.head(variant.key) is not None
        assert variant.key.startswith(f"{photo.id}/{variant.name}-")
    assert ready.metadata["camera_model"] == "Canon PowerShot SD300"
    (told,) = (t.notifier for t in dr.notifier.targets)
    assert isinstance(told, MemoryNotifier)
    assert [p.id for p in told.sent] == [photo.id]


def test_same_bytes_twice_give_the_first_photo(memory_darkroom: Darkroom) -> None:
    first = memory_darkroom.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    again = memory_darkroom.gallery.upload("ann", corpus(JPEG), "b.jpg")
    assert again.duplicate and again.photo.id == first.id
    other_owner = memory_darkroom.gallery.upload("bob", corpus(JPEG), "a.jpg")
    assert not other_owner.duplicate


def test_same_bytes_as_a_photo_written_over_since_are_stored_again(
    memory_darkroom: Darkroom,
) -> None:
    """The photo made of the bytes has other bytes under its key, not processed yet: the
    upload was answered with that photo and not stored, and the bytes were lost once the
    photo was processed again."""
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    _process_all(dr)
    dr.originals.put(first.key, corpus(OTHER_JPEG), "image/jpeg")
    again = dr.gallery.upload("ann", corpus(JPEG), "b.jpg")
    assert not again.duplicate
    assert dr.originals.get(again.photo.key) == corpus(JPEG)


def test_presigned_duplicate_is_marked_and_its_bytes_dropped(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    copy = presigned(dr, "ann", "copy.jpg", corpus(JPEG))
    _process_all(dr)
    copy = dr.catalog.get(copy.id)
    assert copy.status is PhotoStatus.DUPLICATE and copy.duplicate_of == first.id
    assert dr.originals.head(copy.key) is None
    assert dr.catalog.get(first.id).status is PhotoStatus.READY


def test_the_same_bytes_as_a_photo_that_failed_are_rendered_anew(
    memory_darkroom: Darkroom,
) -> None:
    """Sent again whole (`POST /upload`), as through a ticket: the failure may have been the
    store's, or the limits' of the time, where the photo that failed was given back as it was."""
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    dr.processor.fail(first.id, "gave up after 5 attempts: the store is away")
    again = dr.gallery.upload("ann", corpus(JPEG), "b.jpg")
    assert not again.duplicate and again.photo.id != first.id
    assert dr.processor.process(again.photo.id) is Outcome.READY
    assert dr.catalog.get(again.photo.id).filename == "b.jpg"


def test_deleting_a_photo_removes_its_duplicates(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    copies = [presigned(dr, "ann", name, corpus(JPEG)) for name in ("copy.jpg", "again.jpg")]
    bobs = dr.gallery.upload("bob", corpus(JPEG), "a.jpg").photo
    _process_all(dr)
    left_behind = copies[1]
    dr.originals.put(left_behind.key, corpus(JPEG), "image/jpeg")  # a crash after marking
    assert dr.catalog.get(left_behind.id).status is PhotoStatus.DUPLICATE

    dr.gallery.delete("ann", first.id)
    for photo in (first, *copies):
        with pytest.raises(NotFound):
            dr.catalog.get(photo.id)
    assert dr.gallery.list("ann").items == ()
    assert [blob.key for blob in dr.originals.list()] == [bobs.key]
    assert dr.catalog.get(bobs.id).status is PhotoStatus.READY


def test_an_original_removed_from_the_store_takes_its_duplicates(
    memory_darkroom: Darkroom,
) -> None:
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    presigned(dr, "ann", "copy.jpg", corpus(JPEG))
    _process_all(dr)
    dr.originals.delete(first.key)
    assert dr.cleanup.object_removed(first.key)
    assert list(dr.catalog.every()) == []


def test_not_an_image_and_too_large_are_refused_before_storing(memory_darkroom: Darkroom) -> None:
    gallery = memory_darkroom.gallery
    with pytest.raises(Unsupported):
        gallery.upload("ann", b"%PDF-1.4 not a photo", "doc.pdf")
    with pytest.raises(Unsupported):
        gallery.upload("ann", b"", "empty.jpg")
    with pytest.raises(TooLarge):
        gallery.upload("ann", b"\xff\xd8\xff" + b"\0" * gallery.max_upload_bytes, "big.jpg")
    assert memory_darkroom.originals.list() == []


def test_a_broken_image_ends_failed_with_a_reason(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    data = corpus(JPEG)
    broken = dr.gallery.upload("ann", data[: len(data) // 2], "half.jpg").photo
    good = dr.gallery.upload("ann", data, "whole.jpg").photo
    _process_all(dr)
    failed = dr.catalog.get(broken.id)
    assert failed.status is PhotoStatus.FAILED
    assert "truncated" in failed.reason or "decode" in failed.reason
    assert failed.variants == ()
    assert dr.catalog.get(good.id).status is PhotoStatus.READY
    assert dr.queue.jobs(frozenset({JobState.DEAD, JobState.QUEUED})) == []


def test_processing_twice_is_harmless(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    assert dr.processor.process(photo.id) is Outcome.READY
    before = dr.catalog.get(photo.id)
    assert dr.processor.process(photo.id) is Outcome.SKIPPED
    assert dr.catalog.get(photo.id).variants == before.variants
    assert len(dr.variants.list()) == len(before.variants)


def test_a_late_event_for_a_deleted_photo_does_nothing(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    dr.gallery.delete("ann", photo.id)
    assert dr.processor.process(photo.id) is Outcome.SKIPPED
    assert dr.variants.list() == [] and dr.originals.list() == []


def test_delete_removes_original_variants_and_record(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    _process_all(dr)
    with pytest.raises(NotFound):
        dr.gallery.delete("bob", photo.id)
    dr.gallery.delete("ann", photo.id)
    assert dr.originals.list() == [] and dr.variants.list() == []
    with pytest.raises(NotFound):
        dr.catalog.get(photo.id)


def test_deleted_while_processing_leaves_no_variant(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    real_put = dr.variants.put
    deleted = threading.Event()

    def put_then_delete(key: str, data: bytes | BinaryIO, content_type: str) -> BlobInfo:
        info = real_put(key, data, content_type)
        if not deleted.is_set():
            deleted.set()
            dr.gallery.delete("ann", photo.id)
        return info

    dr.variants.put = put_then_delete  # type: ignore[method-assign]
    assert dr.processor.process(photo.id) is Outcome.SKIPPED
    assert dr.variants.list() == [] and dr.originals.list() == []


def test_changed_variant_settings_render_again(memory_darkroom: Darkroom) -> None:
    from darkroom.domain import VariantSpec
    from darkroom.imaging import Limits
    from darkroom.services.processor import Processor

    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    dr.processor.process(photo.id)
    old_keys = {v.key for v in dr.catalog.get(photo.id).variants}
    other = Processor(
        dr.originals,
        dr.variants,
        dr.catalog,
        dr.notifier,
        (VariantSpec("small", 64, 64),),
        Limits(),
    )
    assert other.process(photo.id) is Outcome.READY
    again = dr.catalog.get(photo.id)
    assert [v.name for v in again.variants] == ["small"]
    assert {i.key for i in dr.variants.list()} == {again.variants[0].key}
    assert old_keys.isdisjoint({again.variants[0].key})


def test_giving_up_keeps_what_an_attempt_already_settled(memory_darkroom: Darkroom) -> None:
    """A reprocessing that died before it started leaves the photo's variants as they were,
    and a failure already recorded keeps its reason."""
    dr = memory_darkroom
    ready = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    broken = dr.gallery.upload("ann", b"\xff\xd8\xff" + bytes(500), "b.jpg").photo
    dr.processor.process(ready.id)
    dr.processor.process(broken.id)
    reason = dr.catalog.get(broken.id).reason
    started = dr.gallery.upload("ann", corpus("C01_cmyk_canon300d.jpg"), "c.jpg").photo
    dr.catalog.update(dr.catalog.get(started.id).evolve(status=PhotoStatus.PROCESSING))
    for photo in (ready, broken, started):
        dr.processor.fail(photo.id, "gave up after 5 attempts: the store is away")
    assert dr.catalog.get(ready.id).status is PhotoStatus.READY
    assert dr.catalog.get(broken.id).reason == reason != ""
    assert dr.catalog.get(started.id).status is PhotoStatus.FAILED


def test_transient_failures_retry_with_backoff_then_die(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    calls = 0

    def unavailable(key: str) -> bytes:
        nonlocal calls
        calls += 1
        raise Unavailable("store down")

    dr.originals.get = unavailable  # type: ignore[method-assign]
    policy = RetryPolicy(attempts=3, base_delay=2.0)
    assert policy.next_run(
        Job("j", "p", datetime.now(UTC), datetime.now(UTC), attempts=1),
        datetime(2026, 1, 1, tzinfo=UTC),
    ) == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    worker = Worker(dr.queue, dr.processor, name="w", lease_seconds=60, retry=policy)
    for _ in range(3):
        worker.run_once()
        queued = dr.queue.jobs(frozenset({JobState.QUEUED}))
        for job in queued:  # make the retry due now instead of waiting for the backoff
            dr.queue.fail(job.id, job.last_error, datetime.now(UTC) - timedelta(seconds=1))
    assert calls >= 1
    dead = dr.queue.jobs(frozenset({JobState.DEAD}))
    failed = dr.catalog.get(photo.id)
    assert len(dead) == 1 and "store down" in dead[0].last_error
    assert failed.status is PhotoStatus.FAILED and "gave up after" in failed.reason


def test_a_job_that_keeps_stopping_its_worker_ends_dead_not_in_a_crash_loop(
    memory_darkroom: Darkroom,
) -> None:
    """A photo that crashes the process (or gets it killed) is claimed again whenever its
    lease runs out; once the attempts are used up it is not run again."""
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    policy = RetryPolicy(attempts=3)
    for _ in range(policy.attempts):  # each claimed, then its worker gone without a word
        assert dr.queue.claim("gone", lease_seconds=-1) is not None

    def never(photo_id: str) -> Outcome:
        raise AssertionError("a job whose attempts are used up ran again")

    dr.processor.process = never  # type: ignore[method-assign]
    worker = Worker(dr.queue, dr.processor, name="w", lease_seconds=60, retry=policy)
    assert worker.run_once()
    (dead,) = dr.queue.jobs(frozenset({JobState.DEAD}))
    assert "stopped its worker" in dead.last_error
    failed = dr.catalog.get(photo.id)
    assert failed.status is PhotoStatus.FAILED
    assert failed.reason.startswith("gave up after 3 attempts")
    assert not worker.run_once()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\IMG_1.JPG", "IMG_1.JPG"),
        ("/abs/path/a.png", "a.png"),
        ("..", ""),
        ("we\x00ird\n.jpg", "weird.jpg"),
    ],
)
def test_user_file_names_are_display_data_only(given: str, kept: str) -> None:
    assert clean_filename(given) == kept


def test_keys_that_escape_a_store_are_refused(memory_darkroom: Darkroom) -> None:
    for key in ("../x.jpg", "/etc/passwd", "a/../../b", "", "a//b"):
        with pytest.raises(BadRequest):
            memory_darkroom.originals.put(key, b"x", "image/jpeg")


def test_same_bytes_as_a_photo_being_deleted_make_a_photo_of_their_own(
    memory_darkroom: Darkroom,
) -> None:
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    _process_all(dr)
    # A deletion cut short after its first step (the original), as by a kill -9.
    dr.originals.delete(first.key)
    again = dr.gallery.upload("ann", corpus(JPEG), "b.jpg")
    sent = presigned(dr, "ann", "c.jpg", corpus(JPEG))
    assert not again.duplicate and again.photo.id != first.id
    _process_all(dr)
    doctor = dr.doctor()
    for finding in doctor.examine(grace=0):
        doctor.repair(finding)
    with pytest.raises(NotFound):
        dr.catalog.get(first.id)
    kept = dr.catalog.get(again.photo.id)
    assert kept.status is PhotoStatus.READY
    assert dr.originals.get(kept.key) == corpus(JPEG)
    copy = dr.catalog.get(sent.id)
    assert copy.status is PhotoStatus.DUPLICATE and copy.duplicate_of == kept.id


def test_deleted_as_processing_ends_leaves_no_variant(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    real_delete = dr.originals.delete

    def processed_then_delete(key: str) -> None:
        # The deletion read the record before processing recorded its variants.
        assert dr.processor.process(photo.id) is Outcome.READY
        real_delete(key)

    dr.originals.delete = processed_then_delete  # type: ignore[method-assign]
    dr.gallery.delete("ann", photo.id)
    assert dr.variants.list() == [] and dr.originals.list() == []
    assert dr.doctor().examine(grace=0) == []


def test_a_copy_processed_while_another_renders_points_at_it_even_if_older(
    memory_darkroom: Darkroom,
) -> None:
    """The photo that claimed the bytes first is kept, whichever is older: the other, not
    yet ready when its processing began, finds it through the claim."""
    dr = memory_darkroom
    later = dr.gallery.upload("ann", corpus(JPEG), "b.jpg").photo
    outcomes: list[Outcome] = []

    def copy_processed() -> None:
        # The same bytes sent a moment before: their record is added once they are stored.
        older = _copy_of(dr, later, later.created_at - timedelta(seconds=1))
        outcomes.append(dr.processor.process(older.id))
        copy = dr.catalog.get(older.id)
        assert copy.status is PhotoStatus.DUPLICATE and copy.duplicate_of == later.id
        assert dr.originals.head(older.key) is None

    rendering = dr.processor.developing_with(_rendering_while(copy_processed))
    assert rendering.process(later.id) is Outcome.READY
    assert outcomes == [Outcome.DUPLICATE]
    assert [v.key for v in dr.variants.list() if not v.key.startswith(f"{later.id}/")] == []


def test_a_claim_left_by_a_photo_gone_or_being_deleted_passes_on(
    memory_darkroom: Darkroom,
) -> None:
    """A deletion cut short between the record and its claim, or one still under way (the
    original goes first): the next copy keeps the bytes rather than point at nothing."""
    dr = memory_darkroom
    digest = hashlib.sha256(corpus(JPEG)).hexdigest()
    dr.catalog.claim_bytes("ann", digest, "deleted-long-ago")
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    assert dr.processor.process(first.id) is Outcome.READY
    dr.originals.delete(first.key)
    copy = presigned(dr, "ann", "b.jpg", corpus(JPEG))
    assert dr.processor.process(copy.id) is Outcome.READY
    assert dr.catalog.claim_bytes("ann", digest, "another") == copy.id


def test_a_copy_of_a_photo_that_failed_is_rendered_on_its_own(
    memory_darkroom: Darkroom,
) -> None:
    """The photo that claimed the bytes failed (its store away at every attempt): the same
    bytes sent again are rendered, where they became a pointer to the failure and their
    original was dropped."""
    dr = memory_darkroom
    first = presigned(dr, "ann", "a.jpg", corpus(JPEG))

    def store_away() -> None:
        raise Unavailable("the store is away")

    with pytest.raises(Unavailable):
        dr.processor.developing_with(_rendering_while(store_away)).process(first.id)
    dr.processor.fail(first.id, "gave up after 5 attempts: the store is away")
    assert dr.catalog.get(first.id).status is PhotoStatus.FAILED
    copy = presigned(dr, "ann", "b.jpg", corpus(JPEG))
    assert dr.processor.process(copy.id) is Outcome.READY
    assert dr.originals.get(copy.key) == corpus(JPEG)
    assert dr.processor.process(first.id) is Outcome.DUPLICATE
    assert dr.catalog.get(first.id).duplicate_of == copy.id


def test_a_copy_of_bytes_whose_photo_has_other_bytes_since_is_kept(
    memory_darkroom: Darkroom,
) -> None:
    """The photo that claimed the bytes was given others since (its key written again, by
    its upload URL used twice or `aws s3 cp`): a copy of the first bytes is their only
    one, where it became a pointer to the photo and the bytes were lost."""
    dr = memory_darkroom
    first = presigned(dr, "ann", "a.jpg", corpus(JPEG))
    assert dr.processor.process(first.id) is Outcome.READY
    dr.originals.put(first.key, corpus(OTHER_JPEG), "image/jpeg")
    assert dr.processor.process(first.id) is Outcome.READY
    copy = presigned(dr, "ann", "b.jpg", corpus(JPEG))
    assert dr.processor.process(copy.id) is Outcome.READY
    assert dr.originals.get(copy.key) == corpus(JPEG)
    assert dr.catalog.get(first.id).status is PhotoStatus.READY


def test_a_copy_of_bytes_written_over_before_their_photo_is_processed_again_is_kept(
    memory_darkroom: Darkroom,
) -> None:
    """The photo that claimed the bytes has other bytes under its key, not processed yet
    (their event still queued): a copy of the first bytes processed in between is their
    only one, where it became a pointer to the photo and the bytes were lost once the
    photo was processed again."""
    dr = memory_darkroom
    first = presigned(dr, "ann", "a.jpg", corpus(JPEG))
    assert dr.processor.process(first.id) is Outcome.READY
    dr.originals.put(first.key, corpus(OTHER_JPEG), "image/jpeg")
    copy = presigned(dr, "ann", "b.jpg", corpus(JPEG))
    assert dr.processor.process(copy.id) is Outcome.READY
    assert dr.processor.process(first.id) is Outcome.READY
    assert dr.originals.get(copy.key) == corpus(JPEG)
    assert dr.catalog.get(copy.id).status is PhotoStatus.READY


def _rendering_while(meanwhile: Callable[[], object]) -> Developer:
    """The engine, with `meanwhile` happening as it renders."""

    def render(
        data: bytes,
        specs: Sequence[VariantSpec],
        limits: Limits,
        include_gps: bool,
        watermark: Watermark | None,
    ) -> Developed:
        meanwhile()
        return develop(data, specs, limits, include_gps, watermark)

    return render


def _copy_of(dr: Darkroom, photo: Photo, at: datetime) -> Photo:
    """Another record of `photo`'s bytes, made at `at`, with an original of its own."""
    photo_id = keys.new_photo_id()
    copy = photo.evolve(id=photo_id, key=keys.original_key(photo_id, at, "jpg"), created_at=at)
    dr.originals.put(copy.key, dr.originals.get(photo.key), "image/jpeg")
    dr.catalog.add(copy)
    return copy


def test_a_copy_processed_after_another_is_ready_points_at_it_even_if_older(
    memory_darkroom: Darkroom,
) -> None:
    """The older copy's record was added once the younger was processed (its original was
    still being stored): it finds the younger ready, and only one photo is kept."""
    dr = memory_darkroom
    later = dr.gallery.upload("ann", corpus(JPEG), "b.jpg").photo
    assert dr.processor.process(later.id) is Outcome.READY
    older = _copy_of(dr, later, later.created_at - timedelta(seconds=1))
    assert dr.processor.process(older.id) is Outcome.DUPLICATE
    copy = dr.catalog.get(older.id)
    assert copy.status is PhotoStatus.DUPLICATE and copy.duplicate_of == later.id
    assert dr.catalog.get(later.id).status is PhotoStatus.READY


def test_a_photos_digest_is_recorded_as_its_processing_begins(
    memory_darkroom: Darkroom,
) -> None:
    """For a copy processed at the same time to find it, before either is ready (a presigned
    upload's digest is not known before)."""
    dr = memory_darkroom
    photo = presigned(dr, "ann", "a.jpg", corpus(JPEG))
    assert photo.sha256 == ""
    seen: list[Photo] = []
    looking = _rendering_while(lambda: seen.append(dr.catalog.get(photo.id)))
    assert dr.processor.developing_with(looking).process(photo.id) is Outcome.READY
    (rendering,) = seen
    assert rendering.status is PhotoStatus.PROCESSING
    assert rendering.sha256 == dr.catalog.get(photo.id).sha256 != ""


def test_a_photo_rendered_again_never_becomes_a_copy(memory_darkroom: Darkroom) -> None:
    """Two ready photos of the same bytes (made before copies were told apart): rendering
    the younger again (new settings) keeps it, where it would have pointed at the older and
    lost its own original."""
    dr = memory_darkroom
    first = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    assert dr.processor.process(first.id) is Outcome.READY
    ready = dr.catalog.get(first.id)
    _copy_of(dr, ready, ready.created_at - timedelta(seconds=1))
    dr.catalog.update(ready.evolve(recipe="older settings"))
    assert dr.processor.process(first.id) is Outcome.READY
    assert dr.catalog.get(first.id).status is PhotoStatus.READY
    assert dr.originals.head(first.key) is not None
