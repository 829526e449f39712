"""`doctor` and `reprocess` go through a library a page at a time: the photo records alive
at any moment are bounded by a page, not by the library (counted with the garbage
collector, on a SQLite catalog so that the catalog itself holds none)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
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
    yield dr
    dr.stop_workers()


def _live_photos() -> int:
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
    cli.reprocess()  # every photo left to its queued job, still ready meanwhile
    assert len(seen) == PHOTOS // 100
    assert max(seen) <= BOUND, max(seen)  # before: all 1500, from the first job queued
