"""Processing jobs as rows beside the photos: durable, delivered at least once.

Any number of workers, in threads or processes, may claim at the same time on every
backend: a claim is a conditional UPDATE that only one of them can win.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, select, update

from darkroom.adapters.sql import SqlDatabase, jobs_table
from darkroom.domain import LIVE_JOBS, Job, JobState
from darkroom.errors import NotFound

MAX_ERROR_LENGTH = 2000
_CLAIM_TRIES = 10
"""Each lost race means another worker took a job, so giving up after a few is safe."""
_IDS_ASKED = 500
"""Photo ids asked about in one statement, well inside every backend's parameter limit."""


class LocalJobQueue:
    def __init__(self, db: SqlDatabase, wakeup: threading.Event | None = None) -> None:
        self._db = db
        self._wakeup = wakeup

    def enqueue(self, job: Job) -> None:
        with self._db.connection(write=True) as conn:
            conn.execute(insert(jobs_table).values(_job_row(job)))
        if self._wakeup is not None:
            # A worker woken before the commit would find nothing and go back to sleep.
            self._db.after_commit(self._wakeup.set)

    def claim(self, worker: str, lease_seconds: float) -> Job | None:
        c = jobs_table.c
        for _ in range(_CLAIM_TRIES):
            now = datetime.now(UTC)
            # The first due job of each kind, each found through (state, run_at): asked as one
            # OR, every backend gathered all the due jobs and sorted them, for each claim.
            due = (
                and_(c.state == JobState.QUEUED.value, c.run_at <= now),
                and_(c.state == JobState.RUNNING.value, c.lease_until < now),
            )
            # A fresh transaction per try, so that each one sees what the winners wrote.
            with self._db.connection(write=True) as conn:
                first = [
                    conn.execute(
                        select(jobs_table).where(kind).order_by(c.run_at, c.id).limit(1)
                    ).first()
                    for kind in due
                ]
                found = [row for row in first if row is not None]
                if not found:
                    return None
                row = min(found, key=lambda r: (r.run_at, r.id))
                won = conn.execute(
                    update(jobs_table)
                    .where(
                        c.id == row.id,
                        c.state == row.state,
                        c.attempts == row.attempts,
                        c.run_at == row.run_at,
                    )
                    .values(
                        state=JobState.RUNNING.value,
                        attempts=row.attempts + 1,
                        lease_until=now + timedelta(seconds=lease_seconds),
                        worker=worker,
                    )
                ).rowcount
            if won == 1:
                return dataclasses.replace(
                    _job(row), state=JobState.RUNNING, attempts=row.attempts + 1
                )
        return None

    def complete(self, job_id: str) -> None:
        self._set(job_id, state=JobState.DONE.value, lease_until=None)

    def fail(self, job_id: str, error: str, retry_at: datetime | None) -> None:
        failed: dict[str, Any] = {"last_error": error[:MAX_ERROR_LENGTH], "lease_until": None}
        if retry_at is None:
            self._set(job_id, state=JobState.DEAD.value, **failed)
        else:
            self._set(job_id, state=JobState.QUEUED.value, run_at=retry_at, **failed)

    def get(self, job_id: str) -> Job:
        with self._db.connection(write=False) as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _job(row)

    def jobs(
        self, states: frozenset[JobState], limit: int = 100, after: Job | None = None
    ) -> list[Job]:
        c = jobs_table.c
        query = (
            select(jobs_table)
            .where(c.state.in_(sorted(s.value for s in states)))
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                or_(
                    c.created_at > after.created_at,
                    and_(c.created_at == after.created_at, c.id > after.id),
                )
            )
        with self._db.connection(write=False) as conn:
            return [_job(row) for row in conn.execute(query)]

    def with_jobs(
        self, photo_ids: Collection[str], kind: str, states: frozenset[JobState] = LIVE_JOBS
    ) -> set[str]:
        c = jobs_table.c
        wanted = sorted(photo_ids)
        found: set[str] = set()
        with self._db.connection(write=False) as conn:
            for at in range(0, len(wanted), _IDS_ASKED):
                query = (
                    select(c.photo_id)
                    .distinct()
                    .where(
                        c.photo_id.in_(wanted[at : at + _IDS_ASKED]),
                        c.state.in_(sorted(s.value for s in states)),
                        c.kind == kind,
                    )
                )
                found.update(conn.execute(query).scalars())
        return found

    def count(self, states: frozenset[JobState]) -> dict[JobState, int]:
        c = jobs_table.c
        query = (
            select(c.state, func.count())
            .where(c.state.in_(sorted(s.value for s in states)))
            .group_by(c.state)
        )
        with self._db.connection(write=False) as conn:
            found = {JobState(state): int(n) for state, n in conn.execute(query)}
        return {state: found.get(state, 0) for state in states}

    def count_due(self, now: datetime) -> int:
        c = jobs_table.c
        query = select(func.count()).where(c.state == JobState.QUEUED.value, c.run_at <= now)
        with self._db.connection(write=False) as conn:
            return int(conn.execute(query).scalar_one())

    def retry(self, job_id: str, run_at: datetime) -> Job:
        with self._db.atomic():
            if not self._set(job_id, state=JobState.QUEUED.value, attempts=0, run_at=run_at):
                raise NotFound(f"no job {job_id!r}")
            return self.get(job_id)

    def purge_done(self, older_than: datetime) -> int:
        """Forget finished jobs last due before `older_than`; how many were removed."""
        c = jobs_table.c
        with self._db.connection(write=True) as conn:
            return conn.execute(
                delete(jobs_table).where(c.state == JobState.DONE.value, c.run_at < older_than)
            ).rowcount

    def _set(self, job_id: str, **values: Any) -> bool:
        """Change one job; False when there is no such job."""
        with self._db.connection(write=True) as conn:
            changed = conn.execute(
                update(jobs_table).where(jobs_table.c.id == job_id).values(values)
            ).rowcount
        return changed == 1


def _job_row(job: Job) -> dict[str, Any]:
    row = {f.name: getattr(job, f.name) for f in dataclasses.fields(Job)}
    row["state"] = job.state.value
    row["last_error"] = job.last_error[:MAX_ERROR_LENGTH]
    return row


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        photo_id=row.photo_id,
        created_at=row.created_at,
        run_at=row.run_at,
        state=JobState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        correlation_id=row.correlation_id,
        kind=row.kind,
    )
