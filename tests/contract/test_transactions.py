"""The Transactions contract: a photo and its job land together or not at all, and the
worker is woken only once they have landed."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from darkroom.adapters.local_queue import LocalJobQueue
from darkroom.adapters.memory import MemoryCatalog, MemoryJobQueue, MemoryTransactions
from darkroom.adapters.sql import SqlCatalog, SqlDatabase
from darkroom.domain import Job, JobState, Photo
from darkroom.errors import Conflict, NotFound
from darkroom.ports import Catalog, JobQueue, Transactions

NOW = datetime(2026, 11, 23, tzinfo=UTC)
PHOTO = Photo("p1", "ann", "1764000000000_p1.jpg", "a.jpg", NOW, NOW)
JOB = Job("j1", "p1", NOW, NOW)
QUEUED = frozenset({JobState.QUEUED})


class Boom(Exception):
    pass


@dataclass
class Backend:
    transactions: Transactions
    catalog: Catalog
    queue: JobQueue
    wakeup: threading.Event

    def landed(self) -> tuple[bool, bool]:
        """Whether the photo and the job are stored."""
        try:
            self.catalog.get(PHOTO.id)
        except NotFound:
            photo = False
        else:
            photo = True
        return photo, [j.id for j in self.queue.jobs(QUEUED)] == [JOB.id]


@pytest.fixture
def backend(database: SqlDatabase | None) -> Backend:
    wakeup = threading.Event()
    if database is None:
        return Backend(MemoryTransactions(), MemoryCatalog(), MemoryJobQueue(wakeup), wakeup)
    return Backend(database, SqlCatalog(database), LocalJobQueue(database, wakeup), wakeup)


def test_both_land_and_the_worker_is_woken_after_commit(backend: Backend) -> None:
    with backend.transactions.atomic():
        backend.catalog.add(PHOTO)
        backend.queue.enqueue(JOB)
        assert backend.catalog.get(PHOTO.id) == PHOTO
        assert not backend.wakeup.is_set()
    assert backend.wakeup.is_set()
    assert backend.landed() == (True, True)


def test_an_exception_leaves_neither_and_wakes_nobody(backend: Backend) -> None:
    with pytest.raises(Boom), backend.transactions.atomic():
        backend.catalog.add(PHOTO)
        backend.queue.enqueue(JOB)
        raise Boom
    assert not backend.wakeup.is_set()
    assert backend.landed() == (False, False)


def test_a_conflict_undoes_the_writes_before_it(backend: Backend) -> None:
    backend.catalog.add(PHOTO)
    with pytest.raises(Conflict), backend.transactions.atomic():
        backend.queue.enqueue(JOB)
        backend.catalog.update(PHOTO.evolve(description="first"))
        backend.catalog.add(PHOTO)
    assert backend.landed() == (True, False)
    assert backend.catalog.get(PHOTO.id) == PHOTO


def test_nested_blocks_join_the_outer_one(backend: Backend) -> None:
    with pytest.raises(Boom), backend.transactions.atomic():
        with backend.transactions.atomic():
            backend.catalog.add(PHOTO)
            backend.queue.enqueue(JOB)
        assert not backend.wakeup.is_set()
        raise Boom
    assert backend.landed() == (False, False)
    with backend.transactions.atomic():
        with backend.transactions.atomic():
            backend.catalog.add(PHOTO)
        backend.queue.enqueue(JOB)
    assert backend.landed() == (True, True)


def test_writes_outside_a_block_land_at_once(backend: Backend) -> None:
    backend.queue.enqueue(JOB)
    assert backend.wakeup.is_set()
    backend.catalog.add(PHOTO)
    assert backend.landed() == (True, True)


def test_sql_after_commit_runs_only_on_commit(sql_database: SqlDatabase) -> None:
    ran: list[str] = []
    sql_database.after_commit(lambda: ran.append("now"))
    assert ran == ["now"]
    with pytest.raises(Boom), sql_database.atomic():
        sql_database.after_commit(lambda: ran.append("rolled back"))
        raise Boom
    with sql_database.atomic():
        with sql_database.atomic():
            sql_database.after_commit(lambda: ran.append("committed"))
        assert ran == ["now"]
    assert ran == ["now", "committed"]


def test_sql_other_threads_keep_their_own_transactions(sql_database: SqlDatabase) -> None:
    catalog = SqlCatalog(sql_database)
    seen: list[bool] = []

    def look() -> None:
        try:
            catalog.get(PHOTO.id)
        except NotFound:
            seen.append(False)
        else:
            seen.append(True)

    with sql_database.atomic():
        catalog.add(PHOTO)
        reader = threading.Thread(target=look)
        reader.start()
        reader.join(30)
    look()
    assert seen == [False, True]
