"""The RunLog contract over memory, SQLite, PostgreSQL and MariaDB; and the SQL schema
growing the columns added since a database was made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, text

from darkroom.adapters.local_queue import LocalJobQueue
from darkroom.adapters.memory import MemoryRunLog
from darkroom.adapters.sql import SqlDatabase, jobs_table
from darkroom.adapters.sql_runs import SqlRunLog
from darkroom.domain import Job, Run
from darkroom.ports import RunLog

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
def runs(database: SqlDatabase | None) -> RunLog:
    return MemoryRunLog() if database is None else SqlRunLog(database)


def test_runs_come_back_from_a_moment_on_oldest_first(runs: RunLog) -> None:
    stages = {"read": 0.01, "render": 0.2}
    for hours, outcome in ((30, "ready"), (2, "failed"), (1, "ready")):
        finished = NOW - timedelta(hours=hours)
        runs.record(Run(f"p{hours}", finished, outcome, 0.25 * hours, stages, f"c{hours}"))
    found = runs.since(NOW - timedelta(hours=24))
    assert [(r.photo_id, r.outcome, r.correlation_id) for r in found] == [
        ("p2", "failed", "c2"),
        ("p1", "ready", "c1"),
    ]
    assert found[0].seconds == pytest.approx(0.5)
    assert found[0].stages == stages and found[0].finished_at == NOW - timedelta(hours=2)


def test_a_database_made_before_correlation_ids_gets_the_column(
    sql_database: SqlDatabase,
) -> None:
    with sql_database.connection(write=True) as conn:
        conn.execute(text("ALTER TABLE jobs DROP COLUMN correlation_id"))
    sql_database.create_schema()
    queue = LocalJobQueue(sql_database)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    queue.enqueue(Job("j1", "p1", past, past, correlation_id="req-1"))
    claimed = queue.claim("w", 60)
    assert claimed is not None and claimed.correlation_id == "req-1"


def test_two_processes_adding_the_same_column_both_start(
    sql_database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sql_database.connection(write=True) as conn:
        conn.execute(text("ALTER TABLE jobs DROP COLUMN kind"))
    other = SqlDatabase(sql_database.engine.url.render_as_string(hide_password=False))
    stale = other._columns(jobs_table)
    read = other._columns
    sql_database.create_schema()

    def read_before_the_other_added_it(table: Table) -> set[str]:
        if table is not jobs_table:
            return read(table)
        monkeypatch.setattr(other, "_columns", read)
        return stale

    monkeypatch.setattr(other, "_columns", read_before_the_other_added_it)
    other.create_schema()
    other.close()
    assert other._columns is read, "the race was not run"
    assert "kind" in sql_database._columns(jobs_table)
