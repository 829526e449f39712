"""`Reprocessing`: which photos get a job, and the watch on them while consumers elsewhere
run the jobs (memory adapters; the worker stands for the processing function)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from darkroom import cli
from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from darkroom.domain import PROCESS, BlobInfo, Job, JobState, PhotoStatus
from darkroom.services import reprocessing
from darkroom.services.reprocessing import Reprocessing
from tests.corpus import corpus
from tests.unit.presigned import presigned

JPEG = "S01_canon_sd300_2mp.jpg"
PNG = "N01_png16_724x1024.png"
SECRET = "test-secret-of-sixteen+"


def _photo(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (shade * 40, 80, 120)).save(out, "PNG")
    return out.getvalue()


def _library(dr: Darkroom) -> dict[str, str]:
    """A photo of each status reprocess meets, by status."""
    ready = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    broken = dr.gallery.upload("ann", b"\xff\xd8\xff" + b"\0" * 64, "b.jpg").photo
    copy = presigned(dr, "ann", "c.jpg", corpus(JPEG))
    dr.worker("test").drain()
    waiting = dr.gallery.start_upload("ann", "d.jpg", "image/jpeg", None, "").photo
    statuses = {p.id: p.status.value for p in dr.catalog.every()}
    assert statuses == {
        ready.id: "ready",
        broken.id: "failed",
        copy.id: "duplicate",
        waiting.id: "uploading",
    }
    return {status: photo_id for photo_id, status in statuses.items()}


def test_only_photos_with_something_to_render_again_are_queued(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    photos = _library(dr)
    current = Reprocessing(dr.catalog, dr.gallery, dr.originals, dr.processor.recipe)
    assert list(current.queue().versions) == [photos["failed"]]
    changed = Reprocessing(dr.catalog, dr.gallery, dr.originals, "other settings")
    assert sorted(changed.queue().versions) == sorted([photos["ready"], photos["failed"]])
    assert dr.queue.count(frozenset({JobState.QUEUED})) == {JobState.QUEUED: 3}


def test_a_ready_photo_whose_original_is_gone_is_not_queued(memory_darkroom: Darkroom) -> None:
    """Its job would leave it as it is (the processor leaves it to its removal), and the
    watch would wait for it until it gave up, calling it "not done yet"."""
    dr = memory_darkroom
    photos = _library(dr)
    gone = dr.catalog.get(photos["ready"])
    dr.originals.delete(gone.key)
    queued = Reprocessing(dr.catalog, dr.gallery, dr.originals, "other settings").queue()
    assert list(queued.versions) == [photos["failed"]]
    assert [p.id for p in queued.without_original] == [gone.id]
    assert dr.queue.with_jobs([gone.id], PROCESS, frozenset({JobState.QUEUED})) == set()


def test_the_watch_follows_the_photos_queued_until_each_is_done_or_failed_anew(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    photos = _library(dr)
    ready = dr.catalog.get(photos["ready"])
    dr.catalog.update(ready.evolve(recipe="older settings"))
    watch = Reprocessing(dr.catalog, dr.gallery, dr.originals, dr.processor.recipe)
    queued = watch.queue().versions
    seen: list[int] = []
    monkeypatch.setattr(reprocessing, "_pause", lambda seconds: dr.worker("elsewhere").drain())
    watched = watch.watch(queued, 60, seen.append)
    assert sum(seen) == 2 and watched.unfinished == []
    assert [p.id for p in watched.failed] == [photos["failed"]]
    assert dr.catalog.get(ready.id).recipe == dr.processor.recipe


def test_the_watch_gives_up_on_photos_no_consumer_takes(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    photos = _library(dr)
    watch = Reprocessing(dr.catalog, dr.gallery, dr.originals, "newer settings")
    pauses: list[float] = []
    monkeypatch.setattr(reprocessing, "_pause", pauses.append)
    watched = watch.watch(watch.queue().versions, 0, lambda done: None)
    assert watched.failed == [] and pauses == []
    assert sorted(p.id for p in watched.unfinished) == sorted([photos["ready"], photos["failed"]])
    assert {p.status for p in watched.unfinished} == {PhotoStatus.READY, PhotoStatus.FAILED}


def test_a_local_reprocess_follows_the_photos_a_servers_worker_took(tmp_path: Path) -> None:
    """Run where a server's worker works on the same data, it found no job left to claim
    and looked at the catalog once: the photo that worker was on was "not done yet" (exit
    status 1) once the worker had begun it, and not reported at all before (exit status 0,
    its old variants still there)."""
    before = build(Settings(data_dir=tmp_path, secret=SECRET, workers=0))
    for name in (JPEG, PNG):
        before.gallery.upload("ann", corpus(name), name)
    before.worker("test").drain()
    changed = Settings(data_dir=tmp_path, secret=SECRET, workers=0, variants="thumb:100x100")
    here, server = build(changed), build(changed)
    server_took, go_on = threading.Event(), threading.Event()
    claim_here, claim_there = here.queue.claim, server.queue.claim

    def taken_then_held(worker: str, lease_seconds: float) -> Job | None:
        job = claim_there(worker, lease_seconds)
        server_took.set()
        go_on.wait(60)  # the server renders once this process has found nothing left
        return job

    def claimed_here(worker: str, lease_seconds: float) -> Job | None:
        if not server_took.is_set():
            serving.start()
            server_took.wait(60)
        job = claim_here(worker, lease_seconds)
        if job is None:
            go_on.set()
        return job

    server.queue.claim = taken_then_held  # type: ignore[method-assign]
    here.queue.claim = claimed_here  # type: ignore[method-assign]
    serving = threading.Thread(target=server.worker("server").run_once)
    reprocessing = Reprocessing(here.catalog, here.gallery, here.originals, here.processor.recipe)
    try:
        assert cli._reprocess_here(here, reprocessing, wait=60) == 0
        # done when it says so, the server's photo too
        assert {(p.status, p.recipe) for p in here.catalog.every()} == {
            (PhotoStatus.READY, here.processor.recipe)
        }
    finally:
        go_on.set()
        serving.join(60)


def test_the_originals_are_looked_for_several_at_once(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each look is a round trip to S3: one after another, a large library's would take an
    hour. Four looks meet at a barrier, which only looks made at once pass."""
    dr = memory_darkroom
    for shade in range(4):
        dr.gallery.upload("ann", _photo(shade), f"{shade}.png")
    dr.worker("test").drain()
    meeting = threading.Barrier(4, timeout=10)
    head = dr.originals.head

    def meet_then_head(key: str) -> BlobInfo | None:
        meeting.wait()
        return head(key)

    monkeypatch.setattr(dr.originals, "head", meet_then_head)
    queued = Reprocessing(dr.catalog, dr.gallery, dr.originals, "other settings").queue()
    assert len(queued.versions) == 4 and queued.without_original == []
