"""`doctor` finds orphans in either direction and photos no job will finish, and repairs
them; what may still be on its way is left alone."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from darkroom import keys
from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from darkroom.domain import BlobInfo, JobState, Photo, PhotoStatus
from darkroom.services.doctor import Finding, Problem
from darkroom.services.gallery import utcnow
from tests.contract.test_catalog import claims
from tests.corpus import corpus
from tests.unit.presigned import presigned

JPEG = "S01_canon_sd300_2mp.jpg"
PNG = "N01_png16_724x1024.png"


def _ready(dr: Darkroom, name: str) -> str:
    photo_id = dr.gallery.upload("ann", corpus(name), name).photo.id
    dr.worker().drain()
    return photo_id


def test_a_healthy_gallery_has_nothing_to_repair(memory_darkroom: Darkroom) -> None:
    _ready(memory_darkroom, JPEG)
    assert memory_darkroom.doctor().examine(grace=0) == []


def test_orphans_both_ways_are_found_and_repaired(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    lost_original = _ready(dr, JPEG)
    lost_variant = _ready(dr, PNG)
    photo = dr.catalog.get(lost_original)
    dr.originals.delete(photo.key)
    gone = dr.catalog.get(lost_variant).variants[0]
    dr.variants.delete(gone.key)
    stray_variant = "0123456789abcdef0123456789abcdef/w320-0000000000000000.jpg"
    dr.variants.put(stray_variant, b"x", "image/jpeg")
    old = utcnow() - timedelta(hours=2)
    stray_original = keys.original_key(keys.new_photo_id(), old, "jpg")
    fresh_original = keys.original_key(keys.new_photo_id(), utcnow(), "jpg")
    for key in (stray_original, fresh_original, "dropped/by-hand.jpg"):
        dr.originals.put(key, b"y", "image/jpeg")

    doctor = dr.doctor()
    findings = doctor.examine(grace=600)
    assert sorted(findings, key=str) == sorted(
        [
            Finding(Problem.ORPHAN_ORIGINAL, stray_original),
            Finding(Problem.FOREIGN_ORIGINAL, "dropped/by-hand.jpg"),
            Finding(Problem.ORPHAN_VARIANT, stray_variant),
            Finding(Problem.MISSING_ORIGINAL, lost_original),
            Finding(Problem.MISSING_VARIANT, lost_variant),
        ],
        key=str,
    )
    for finding in findings:
        doctor.repair(finding)
    dr.worker().drain()
    assert doctor.examine(grace=600) == [Finding(Problem.FOREIGN_ORIGINAL, "dropped/by-hand.jpg")]
    assert dr.originals.head(stray_original) is None
    assert dr.originals.head(fresh_original) is not None
    assert dr.variants.head(stray_variant) is None
    assert [p.id for p in dr.catalog.every()] == [lost_variant]
    again = dr.catalog.get(lost_variant)
    assert again.status is PhotoStatus.READY
    assert all(dr.variants.head(v.key) is not None for v in again.variants)
    assert not any(v.key.startswith(f"{lost_original}/") for v in dr.variants.list())


def test_a_photo_no_job_will_finish_is_queued_again(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    (job,) = dr.queue.jobs(frozenset({JobState.QUEUED}))
    dr.queue.fail(job.id, "lost", None)
    assert dr.doctor().examine(grace=600) == []
    (finding,) = dr.doctor().examine(grace=0)
    assert finding == Finding(Problem.NO_JOB, photo.id)
    dr.doctor().repair(finding)
    assert dr.worker().drain() == 1
    assert dr.catalog.get(photo.id).status is PhotoStatus.READY
    assert dr.doctor().examine(grace=0) == []


def test_a_duplicate_whose_photo_is_gone_is_removed(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    first = _ready(dr, JPEG)
    copy = presigned(dr, "ann", "copy.jpg", corpus(JPEG))
    dr.worker().drain()
    copy = dr.catalog.get(copy.id)
    assert copy.duplicate_of == first
    # As when the copy is marked while its photo is being deleted: the deletion missed it.
    photo = dr.catalog.get(first)
    dr.originals.delete(photo.key)
    for variant in photo.variants:
        dr.variants.delete(variant.key)
    dr.catalog.delete(first)
    dr.originals.put(copy.key, corpus(JPEG), "image/jpeg")  # and a crash kept its bytes

    (finding,) = dr.doctor().examine(grace=600)
    assert finding == Finding(Problem.LOST_DUPLICATE, copy.id)
    dr.doctor().repair(finding)
    assert list(dr.catalog.every()) == [] and dr.originals.list() == []
    assert dr.doctor().examine(grace=0) == []


def test_variants_of_a_photo_being_processed_are_left_alone(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    dr.variants.put(f"{photo.id}/thumb-0000000000000000.jpg", b"x", "image/jpeg")
    assert dr.doctor().examine(grace=600) == []


def test_a_write_cut_short_leaves_a_file_the_doctor_removes(tmp_path: Path) -> None:
    dr = build(Settings(data_dir=tmp_path, secret="test-secret-of-sixteen+", workers=0))
    photo_id = _ready(dr, JPEG)
    folder = tmp_path / "variants" / photo_id
    stale, fresh = folder / ".partial-k1ll3d", folder / ".partial-wr1t1ng"
    stale.write_bytes(b"half a variant")
    fresh.write_bytes(b"a variant being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    doctor = dr.doctor()
    findings = doctor.examine(grace=600)
    assert findings == [Finding(Problem.UNFINISHED_WRITE, f"variants:{photo_id}/{stale.name}")]
    doctor.repair(findings[0])
    assert not stale.exists() and fresh.exists()
    assert doctor.examine(grace=600) == []
    assert len(dr.catalog.get(photo_id).variants) == len(list(folder.glob("*.jpg")))


def test_an_upload_stored_but_never_completed_is_processed(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    # The bytes reached the store, then the client (or the server) stopped before completing.
    pending = dr.gallery.start_upload("ann", "a.jpg", "image/jpeg", None, "")
    dr.originals.put(pending.photo.key, corpus(JPEG), "image/jpeg")
    assert dr.doctor().examine(grace=600) == []
    (finding,) = dr.doctor().examine(grace=0)
    assert finding == Finding(Problem.UNCOMPLETED_UPLOAD, pending.photo.id)
    dr.doctor().repair(finding)
    assert dr.worker().drain() == 1
    assert dr.catalog.get(pending.photo.id).status is PhotoStatus.READY
    assert dr.doctor().examine(grace=0) == []


def test_a_photo_processed_while_the_doctor_looks_keeps_its_variants(
    memory_darkroom: Darkroom,
) -> None:
    dr = memory_darkroom
    _ready(dr, JPEG)
    made: list[str] = []
    list_originals = dr.originals.list

    def processed_meanwhile(prefix: str = "", after: str = "", limit: int = 1000) -> list[BlobInfo]:
        if not made:  # uploaded and processed while the doctor goes through the stores
            made.append(_ready(dr, PNG))
        return list_originals(prefix, after, limit)

    dr.originals.list = processed_meanwhile  # type: ignore[method-assign]
    doctor = dr.doctor()
    assert doctor.examine(grace=0) == []
    (live, *_) = dr.catalog.get(made[0]).variants
    doctor.repair(Finding(Problem.ORPHAN_VARIANT, live.key))  # found before it was named
    assert dr.variants.head(live.key) is not None
    assert doctor.examine(grace=0) == []


def _lost_job(dr: Darkroom, name: str = JPEG) -> tuple[str, Finding]:
    """A photo waiting for a job that died, as the doctor finds it."""
    photo_id = dr.gallery.upload("ann", corpus(name), name).photo.id
    (job,) = dr.queue.jobs(frozenset({JobState.QUEUED}))
    assert dr.queue.claim("test", 60) is not None
    dr.queue.fail(job.id, "lost", None)
    (finding,) = dr.doctor().examine(grace=0)
    assert finding == Finding(Problem.NO_JOB, photo_id)
    return job.id, finding


def test_a_photo_done_or_deleted_since_the_examination_is_not_queued_again(
    memory_darkroom: Darkroom,
) -> None:
    dr = memory_darkroom
    job_id, done_since = _lost_job(dr)
    dr.queue.retry(job_id, utcnow())  # its job retried and run after the doctor looked
    assert dr.worker().drain() == 1
    ready = dr.catalog.get(done_since.subject)
    _, deleted_since = _lost_job(dr, PNG)
    dr.gallery.delete("ann", deleted_since.subject)

    for finding in (done_since, deleted_since):
        dr.doctor().repair(finding)
    assert dr.catalog.get(done_since.subject) == ready
    assert dr.queue.count_due(utcnow()) == 0


def test_a_photo_done_while_the_doctor_repairs_it_is_not_queued_again(
    memory_darkroom: Darkroom,
) -> None:
    dr = memory_darkroom
    job_id, finding = _lost_job(dr)
    read = dr.catalog.get

    def done_right_after(photo_id: str) -> Photo:
        photo = read(photo_id)
        dr.catalog.get = read  # type: ignore[method-assign]
        dr.queue.retry(job_id, utcnow())  # run by a worker between the repair's read and write
        dr.worker().drain()
        return photo

    dr.catalog.get = done_right_after  # type: ignore[method-assign]
    dr.doctor().repair(finding)
    assert dr.catalog.get(finding.subject).status is PhotoStatus.READY
    assert dr.queue.count_due(utcnow()) == 0


@pytest.mark.parametrize("catalog", ["memory://", "sqlite"])
def test_a_claim_naming_a_photo_that_is_gone_is_released(catalog: str, tmp_path: Path) -> None:
    dr = build(
        Settings(
            data_dir=tmp_path,
            originals="memory://",
            variants_store="memory://variants",
            catalog=catalog if catalog != "sqlite" else f"sqlite:///{tmp_path}/catalog.db",
            queue="memory",
            notify="memory",
            secret="test-secret-of-sixteen+",
            workers=0,
        )
    )
    gone = dr.catalog.get(_ready(dr, JPEG))
    dr.gallery.delete("ann", gone.id)
    # Processing that read the photo before its deletion claims its bytes after it.
    assert dr.catalog.claim_bytes("ann", gone.sha256, gone.id) == gone.id
    left = f"{gone.id}:{gone.sha256}:ann"
    doctor = dr.doctor()
    assert doctor.examine(grace=0) == [Finding(Problem.LEFT_CLAIM, left)]
    doctor.repair(Finding(Problem.LEFT_CLAIM, left))
    assert claims(dr.catalog) == []
    assert doctor.examine(grace=0) == []
    again = dr.catalog.get(_ready(dr, JPEG))
    assert again.status is PhotoStatus.READY and again.duplicate_of == ""


def test_a_claim_passed_on_since_the_examination_stays(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    gone = dr.catalog.get(_ready(dr, JPEG))
    dr.gallery.delete("ann", gone.id)
    dr.catalog.claim_bytes("ann", gone.sha256, gone.id)
    doctor = dr.doctor()
    (finding,) = doctor.examine(grace=0)
    kept = _ready(dr, JPEG)
    doctor.repair(finding)
    assert [claim.photo_id for claim in claims(dr.catalog)] == [kept]
    assert doctor.examine(grace=0) == []
