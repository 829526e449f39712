"""`doctor` and `reprocess` go through a library a page at a time: the photo records alive
at any moment are bounded by a page, not by the library (counted with the garbage
collector, on a SQLite catalog so that the catalog itself holds none)."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import insert

from darkroom import cli, keys
from darkroom.adapters.sql import SqlCatalog, _photo_row, photos_table
from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from darkroom.domain import Photo, PhotoStatus, Variant
from darkroom.services.gallery import utcnow

PHOTOS = 1500
BOUND = 600
"""Records a page (500) and the few read beside it; the library is 1500."""


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Darkroom]:
    dr = build(
        Settings(
            data_dir=tmp_path,
            originals="memory://",
            variants_store="memory://variants",
            catalog=f"sqlite:///{tmp_path / 'darkroom.db'}",
            queue="memory",
            notify="memory",
            secret="test-secret-of-sixteen+",
            workers=0,
        )
    )
    assert isinstance(dr.catalog, SqlCatalog)
    made = utcnow() - timedelta(days=2)
    rows = []
    for i in range(PHOTOS):
        photo_id = f"{i:032x}"
        key = keys.original_key(photo_id, made, "jpg")
        variants = tuple(
            Variant(name, f"{photo_id}/{name}.jpg", 10, 10, "image/jpeg", 1)
            for name in ("a", "b", "c")
        )
        photo = Photo(
            photo_id, "ann", key, "a.jpg", made, made, status=PhotoStatus.READY, variants=variants
        )
        dr.originals.put(key, b"x", "image/jpeg")
        for variant in variants:
            dr.variants.put(variant.key, b"x", "image/jpeg")
        rows.append(_photo_row(photo))
    with dr.catalog._db.engine.begin() as connection:
        connection.execute(insert(photos_table), rows)
    # What exists now is left out of the counts (`_live_photos`): the whole suite's objects,
    # which the collector's list took a minute to go through, probe after probe.
    gc.collect()
    gc.freeze()
    try:
        yield dr
    finally:
        gc.unfreeze()
        dr.stop_workers()


def _live_photos() -> int:
    """Photo records made since the library was (`gc.freeze` keeps older objects out of the
    collector's list)."""
    return sum(isinstance(o, Photo) for o in gc.get_objects())


def _probing(call: Callable[..., Any], seen: list[int], every: int = 1) -> Callable[..., Any]:
    calls = [0]

    def probed(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] % every == 0:
            seen.append(_live_photos())
        return call(*args, **kwargs)

    return probed


def test_doctor_holds_a_page_of_records(library: Darkroom, monkeypatch: pytest.MonkeyPatch) -> None:
    dr = library
    seen: list[int] = []
    for store in (dr.originals, dr.variants):
        monkeypatch.setattr(store, "list", _probing(store.list, seen))
    monkeypatch.setattr(dr.originals, "head", _probing(dr.originals.head, seen, every=100))
    assert dr.doctor().examine(grace=0) == []
    assert len(seen) >= 20
    assert max(seen) <= BOUND, str(seen)  # before: all 1500, from the first record read


def test_reprocess_holds_a_page_of_records(
    library: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = library
    seen: list[int] = []
    monkeypatch.setattr(cli, "_build", lambda settings: dr)
    monkeypatch.setattr(dr.gallery, "enqueue", _probing(dr.gallery.enqueue, seen, every=100))

    class Stopped:  # the run is stopped before it processes anything
        def run_once(self) -> bool:
            return False

    monkeypatch.setattr(dr, "worker", lambda name: Stopped())
    with pytest.raises(typer.Exit) as stopped:  # every photo left to its queued job
        cli.reprocess()
    assert stopped.value.exit_code == 1  # its variants not made again yet
    assert len(seen) == PHOTOS // 100
    assert max(seen) <= BOUND, max(seen)  # before: all 1500, from the first job queued


_DOCTOR_WITH_A_FULL_QUEUE = """
import re, sqlite3, sys
from datetime import timedelta
from pathlib import Path

from darkroom import keys
from darkroom.bootstrap import build
from darkroom.config import Settings
from darkroom.domain import Photo, PhotoStatus
from darkroom.services.gallery import utcnow

def peak() -> int:
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1])

data, jobs = Path(sys.argv[1]), int(sys.argv[2])
dr = build(Settings(data_dir=data, secret="test-secret-of-sixteen+", workers=0))
made = utcnow() - timedelta(days=2)
key = keys.original_key("stuck", made, "jpg")
dr.originals.put(key, b"x", "image/jpeg")
dr.catalog.add(Photo("stuck", "ann", key, "a.jpg", made, made, status=PhotoStatus.PENDING))
queued = (made - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
with sqlite3.connect(data / "darkroom.db") as db:
    db.executemany(
        "insert into jobs (id, photo_id, state, attempts, last_error, created_at, run_at)"
        " values (?, ?, 'queued', 0, '', ?, ?)",
        ((f"j{n}", f"p{n}", queued, queued) for n in range(jobs)),
    )
before = peak()
found = dr.doctor().examine(grace=3600)
print([(f.problem.name, f.subject) for f in found], peak() - before)
"""


def test_doctor_asks_the_queue_about_the_photos_waiting_only(tmp_path: Path) -> None:
    """A photo waiting for a job, behind 300 000 queued jobs of other photos (a `reprocess`
    of a large library): the doctor asks the queue about that photo, where it read every
    queued and running job, a million at most (137 MB more at its peak here, none now). The
    peak is read from /proc in a process of its own: getrusage's would be the test run's."""
    done = subprocess.run(
        [sys.executable, "-c", _DOCTOR_WITH_A_FULL_QUEUE, str(tmp_path), "300000"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    findings, grown_kb = done.stdout.rsplit(" ", 1)
    assert findings == "[('NO_JOB', 'stuck')]", done.stdout
    assert int(grown_kb) < 30_000, "the doctor's peak grew by this many KB"
