"""Processing runs as rows beside the photos, for `darkroom stats` and the admin page. Rows
older than `KEPT_FOR` are removed as new ones come, at most once an hour."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select

from darkroom.adapters.sql import SqlDatabase, runs_table
from darkroom.domain import Run

KEPT_FOR = timedelta(days=7)
_PURGE_EVERY = 3600.0


class SqlRunLog:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._purged = float("-inf")

    def record(self, run: Run) -> None:
        row = {
            "id": uuid.uuid4().hex,
            "photo_id": run.photo_id,
            "finished_at": run.finished_at,
            "outcome": run.outcome,
            "seconds": run.seconds,
            "stages": json.dumps(dict(run.stages)),
            "correlation_id": run.correlation_id,
        }
        with self._db.connection(write=True) as conn:
            conn.execute(insert(runs_table).values(row))
            if self._purge_due():
                old = runs_table.c.finished_at < run.finished_at - KEPT_FOR
                conn.execute(delete(runs_table).where(old))

    def since(self, moment: datetime) -> list[Run]:
        c = runs_table.c
        query = select(runs_table).where(c.finished_at >= moment).order_by(c.finished_at)
        with self._db.connection(write=False) as conn:
            return [
                Run(
                    photo_id=row.photo_id,
                    finished_at=row.finished_at,
                    outcome=row.outcome,
                    seconds=row.seconds,
                    stages=json.loads(row.stages),
                    correlation_id=row.correlation_id,
                )
                for row in conn.execute(query)
            ]

    def _purge_due(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._purged < _PURGE_EVERY:
                return False
            self._purged = now
            return True
