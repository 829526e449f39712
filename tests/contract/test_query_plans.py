"""What a large library needs of the SQL catalog: every lookup and page through an index,
on SQLite, PostgreSQL and MariaDB, and databases made before an index was added given it.
The plans are read from the backends' own EXPLAIN (see `plans`), never from timings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text

from darkroom.adapters.local_queue import LocalJobQueue
from darkroom.adapters.sql import SqlCatalog, SqlDatabase, jobs_table, photos_table
from darkroom.domain import PROCESS, PhotoStatus
from tests.contract.plans import plans, reads_whole_table, rows_read

START = datetime(2024, 1, 1, tzinfo=UTC)
ROWS = 3000
STATUSES = ("ready",) * 8 + ("failed", "duplicate")


def _fill(db: SqlDatabase, *, analyse: bool = True) -> None:
    """A library large enough that MariaDB's planner, which weighs rows, prefers an index
    where one serves; its statistics brought up to date."""
    rows = [
        {
            "id": f"{index:06d}" + uuid.uuid4().hex[:8],
            "owner": "ann" if index % 10 else f"user{index % 7}",
            "key": f"{index:013d}_{index:032x}.jpg",
            "filename": "a.jpg",
            "description": "",
            "status": STATUSES[index % len(STATUSES)],
            "reason": "",
            "content_type": "image/jpeg",
            "size": 1,
            "sha256": f"{index:064x}",
            "width": 1,
            "height": 1,
            "variants": "[]",
            "metadata": "{}",
            "duplicate_of": "",
            "recipe": "",
            "blurhash": "",
            "version": 1,
            "created_at": START + timedelta(seconds=index // 3),
            "updated_at": START,
        }
        for index in range(ROWS)
    ]
    with db.connection(write=True) as conn:
        conn.execute(insert(photos_table), rows)
    if not analyse and db.engine.dialect.name == "sqlite":
        return
    _analyse(db, "photos")


def _analyse(db: SqlDatabase, table: str) -> None:
    with db.engine.connect() as conn:
        statement = {"sqlite": "ANALYZE", "postgresql": f"ANALYZE {table}"}
        conn.exec_driver_sql(statement.get(db.engine.dialect.name, f"ANALYZE TABLE {table}"))
        conn.commit()


@pytest.fixture
def library(sql_database: SqlDatabase) -> SqlCatalog:
    _fill(sql_database)
    return SqlCatalog(sql_database)


@pytest.fixture
def unanalysed(sql_database: SqlDatabase) -> SqlCatalog:
    """As darkroom leaves its database: SQLite without the statistics ANALYZE makes."""
    _fill(sql_database, analyse=False)
    return SqlCatalog(sql_database)


def test_finding_copies_looks_the_digest_up(unanalysed: SqlCatalog) -> None:
    """Every upload and every deletion asks for the owner's photos of one digest."""
    db = unanalysed._db
    [plan] = plans(db, lambda: unanalysed.find_by_hash("ann", f"{701:064x}"))
    assert "ix_photos_owner_sha256" in plan, plan
    assert not reads_whole_table(plan), plan
    assert [p.id[:6] for p in unanalysed.find_by_hash("ann", f"{701:064x}")] == ["000701"]


def test_a_deep_page_starts_at_its_cursor(unanalysed: SqlCatalog) -> None:
    """The index is entered at the cursor's time, not read from the newest photo down."""
    db = unanalysed._db
    cursor = None
    for _ in range(40):  # well into the library
        cursor = unanalysed.list("ann", 50, cursor).cursor
    [plan] = plans(db, lambda: unanalysed.list("ann", 50, cursor))
    assert not reads_whole_table(plan), plan
    if db.engine.dialect.name == "sqlite":
        assert "created_at<" in plan, plan
    else:  # the page, and others' photos among it
        assert rows_read(db, lambda: unanalysed.list("ann", 50, cursor)) < 100


def test_photos_are_counted_by_status_from_an_index(library: SqlCatalog) -> None:
    """`darkroom stats`, the admin page and /metrics: one statement, the status index
    alone, where every record used to be read and decoded, 500 at a time."""
    db = library._db
    [plan] = plans(db, library.count_by_status)
    assert "ix_photos_status" in plan, plan
    counts = library.count_by_status()
    assert counts == {"ready": 2400, "failed": 300, "duplicate": 300}
    assert set(counts) <= {s.value for s in PhotoStatus}


def test_a_database_made_before_an_index_gets_it(sql_database: SqlDatabase) -> None:
    """`create_schema` adds the indexes a table lacks, as it adds new columns."""
    db = sql_database
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        on = " ON photos" if dialect == "mysql" else ""
        conn.execute(text(f"DROP INDEX ix_photos_status{on}"))
        conn.commit()
    db.create_schema()
    db.create_schema()  # and again: nothing left to add
    _fill(db)
    catalog = SqlCatalog(db)
    [plan] = plans(db, catalog.count_by_status)
    assert "ix_photos_status" in plan, plan


def _queued(db: SqlDatabase) -> LocalJobQueue:
    """A queue of `ROWS` jobs, one a photo, a third of them done, its statistics made."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"{index:032x}",
            "photo_id": f"{index:032x}",
            "state": "queued" if index % 3 else "done",
            "attempts": 0,
            "last_error": "",
            "created_at": now - timedelta(seconds=index),
            "run_at": now - timedelta(seconds=index // 2),
            "lease_until": None,
            "worker": None,
            "correlation_id": "",
            "kind": "process",
        }
        for index in range(ROWS)
    ]
    with db.connection(write=True) as conn:
        conn.execute(insert(jobs_table), rows)
    _analyse(db, "jobs")
    return LocalJobQueue(db)


def test_a_claim_takes_the_first_due_job_without_sorting_them_all(
    sql_database: SqlDatabase,
) -> None:
    """With thousands queued (a `reprocess` of a large library), each claim used to gather
    every due job and sort them all for the first."""
    db = sql_database
    queue = _queued(db)
    found = plans(db, lambda: queue.claim("w", 60))
    queued, running, claimed = found
    assert "jobs" in claimed and "ix_jobs_state_run_at" in running, running  # a lease or two
    assert "ix_jobs_state_run_at" in queued, queued
    assert "MULTI-INDEX OR" not in queued and "TEMP B-TREE FOR ORDER BY" not in queued, queued
    # PostgreSQL: in index order, ties on run_at sorted as they come (Incremental Sort)
    assert "Bitmap" not in queued, queued
    assert "Sort Key" not in queued or "Presorted Key: run_at" in queued, queued
    assert "filesort" not in queued, queued
    oldest = max(i for i in range(ROWS) if i % 3)  # its run_at is the earliest of the queued
    job = queue.claim("w", 60)
    assert job is not None and job.id in (f"{oldest:032x}", f"{oldest - 1:032x}")


def test_the_photos_waiting_for_a_job_are_looked_up_by_their_ids(
    sql_database: SqlDatabase,
) -> None:
    """What `doctor` asks of the queue about the photos it found waiting for a job, where
    it used to read every queued and running job (up to a million)."""
    db = sql_database
    queue = _queued(db)
    asked = {f"{index:032x}" for index in (1, 2, 3)} | {"0" * 31 + "z"}
    [plan] = plans(db, lambda: queue.with_jobs(asked, PROCESS))
    assert "ix_jobs_photo_id" in plan and not reads_whole_table(plan), plan
    if db.engine.dialect.name != "sqlite":
        assert rows_read(db, lambda: queue.with_jobs(asked, PROCESS)) <= len(asked)
    assert queue.with_jobs(asked, PROCESS) == {f"{index:032x}" for index in (1, 2)}


def test_the_due_jobs_are_counted_from_the_index(sql_database: SqlDatabase) -> None:
    """What `import` shows as the work ahead: it read up to 100 000 queued jobs to count
    the due ones (1.7 s and 51 MB with 100 000 waiting on SQLite)."""
    db = sql_database
    queue = _queued(db)
    [plan] = plans(db, lambda: queue.count_due(datetime.now(UTC)))
    assert "ix_jobs_state_run_at" in plan and not reads_whole_table(plan), plan
    assert queue.count_due(datetime.now(UTC)) == sum(1 for i in range(ROWS) if i % 3)
