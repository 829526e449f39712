"""The catalog at scale: a library of `--photos` records (100 000 by default) written straight
into a SQL catalog, with a job per photo, `--queued` jobs waiting, dead ones, runs and share
links, then every read the API and the commands make of it, timed in process (median of
`--repeat`), with the query plans of the statements each one sent and the Python memory it
peaked at. `--files` also lays the originals and variants out as (empty) files, for the
filesystem stores' listings (delete, stats, doctor).

    .venv/bin/python -m bench.catalog                                 # SQLite
    .venv/bin/python -m bench.catalog --catalog postgresql://postgres@127.0.0.1:5432/darkroom_bench
    .venv/bin/python -m bench.catalog --catalog mysql+pymysql://root@127.0.0.1:3306/darkroom_bench

A server database named in `--catalog` is made and dropped by the run. Prints one Markdown
table; a plan line that scans a whole table is marked FULL SCAN.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, insert, make_url, text

import darkroom.adapters.sql_accounts as sql_accounts
from darkroom import keys
from darkroom.adapters.sql import SqlDatabase, jobs_table, photos_table, runs_table
from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from darkroom.domain import JobState
from darkroom.web.app import create_app

SECRET = "bench-secret-0123456789"
SIZES = (("thumb", 100), ("w150", 150), ("w320", 320), ("w640", 640), ("w1024", 1024))
_BATCH = 2000
OWNER = "local"
LISTED = frozenset({JobState.DEAD, JobState.QUEUED, JobState.RUNNING})
QUEUED = frozenset({JobState.QUEUED})


def photo_rows(count: int, chance: random.Random) -> Iterator[dict[str, Any]]:
    """Photos over five years, a few imports landing in the same second; 90 % the gallery
    user's, the rest spread over other accounts; mostly ready, some of every other status."""
    start = datetime(2021, 1, 1, tzinfo=UTC)
    made = start
    statuses = ["ready"] * 92 + ["failed"] * 2 + ["duplicate"] * 2 + ["pending"] * 2
    statuses += ["uploading", "processing"]
    for index in range(count):
        made += timedelta(seconds=chance.choice((0, 1, 60, 3600, 5000)))
        photo_id = uuid.uuid4().hex
        status = chance.choice(statuses)
        ready = status == "ready"
        variants = (
            [
                {
                    "name": name,
                    "key": f"{photo_id}/{name}-{index:016x}.jpg",
                    "width": w,
                    "height": w * 3 // 4,
                    "content_type": "image/jpeg",
                    "size": w * 60,
                }
                for name, w in SIZES
            ]
            + [
                {
                    "name": "display",
                    "key": f"{photo_id}/display-{index:016x}.jpg",
                    "width": 800,
                    "height": 600,
                    "content_type": "image/jpeg",
                    "size": 50000,
                }
            ]
            if ready
            else []
        )
        metadata = {
            "camera": chance.choice(("Canon EOS R5", "Apple iPhone 13 Pro", "FUJIFILM X-T4")),
            "lens": "RF24-105mm F4 L IS USM",
            "taken_at": made.isoformat(),
            "exposure": "1/250",
            "f_number": 5.6,
            "iso": 200,
            "focal_length": 50.0,
        }
        yield {
            "id": photo_id,
            "owner": OWNER if chance.random() < 0.9 else f"user-{chance.randrange(50)}",
            "key": keys.original_key(photo_id, made, "jpg"),
            "filename": f"IMG_{index:05d}.JPG",
            "description": "" if chance.random() < 0.8 else "A walk along the river at dusk.",
            "status": status,
            "reason": "not an image darkroom can decode" if status == "failed" else "",
            "content_type": "image/jpeg",
            "size": 4_000_000 + index,
            "sha256": f"{index:064x}",
            "width": 6000 if ready else 0,
            "height": 4000 if ready else 0,
            "variants": json.dumps(variants),
            "metadata": json.dumps(metadata if ready else {}),
            "duplicate_of": uuid.uuid4().hex if status == "duplicate" else "",
            "recipe": "0123456789abcdef" if ready else "",
            "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj" if ready else "",
            "version": 3,
            "created_at": made,
            "updated_at": made,
        }


def fill(db: SqlDatabase, photos: int, queued: int, files: Path | None) -> list[dict[str, Any]]:
    """Everything written in batches, straight through SQLAlchemy Core."""
    chance = random.Random(7)
    now = datetime.now(UTC)
    kept: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []

    def flush() -> None:
        with db.connection(write=True) as conn:
            if batch:
                conn.execute(insert(photos_table), batch)
            if jobs:
                conn.execute(insert(jobs_table), jobs)
        batch.clear()
        jobs.clear()

    for row in photo_rows(photos, chance):
        batch.append(row)
        jobs.append(_job(row["id"], row["created_at"], "done"))
        kept.append({k: row[k] for k in ("id", "owner", "key", "sha256", "created_at")})
        if files is not None:
            _lay_out(files, row)
        if len(batch) >= _BATCH:
            flush()
    flush()
    for index in range(queued):
        jobs.append(_job(uuid.uuid4().hex, now - timedelta(seconds=index), "queued"))
        if len(jobs) >= _BATCH:
            flush()
    for index in range(300):
        dead = _job(uuid.uuid4().hex, now - timedelta(days=1, seconds=index), "dead")
        jobs.append(dead | {"attempts": 5, "last_error": "the store is away"})
    flush()
    runs = [
        {
            "id": uuid.uuid4().hex,
            "photo_id": uuid.uuid4().hex,
            "finished_at": now - timedelta(seconds=index * 20),
            "outcome": "ready" if index % 50 else "failed",
            "seconds": 0.2 + (index % 7) / 10,
            "stages": json.dumps({"decode": 0.05, "resize": 0.1, "encode": 0.05}),
            "correlation_id": "",
        }
        for index in range(8000)  # 44 hours of them, one every 20 seconds
    ]
    shares = [
        {
            "id": uuid.uuid4().hex,
            "photo_id": chance.choice(kept)["id"],
            "owner": OWNER,
            "created_at": now,
            "expires_at": now + timedelta(days=7),
        }
        for _ in range(5000)
    ]
    with db.connection(write=True) as conn:
        conn.execute(insert(runs_table), runs)
        conn.execute(insert(sql_accounts.shares_table), shares)
    return kept


def _job(photo_id: str, at: datetime, state: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "photo_id": photo_id,
        "state": state,
        "attempts": 1 if state == "done" else 0,
        "last_error": "",
        "created_at": at,
        "run_at": at,
        "lease_until": None,
        "worker": None,
        "correlation_id": "",
        "kind": "process",
    }


def _lay_out(root: Path, row: dict[str, Any]) -> None:
    (root / "originals" / row["key"]).touch()
    for variant in json.loads(row["variants"]):
        path = root / "variants" / variant["key"]
        path.parent.mkdir(exist_ok=True)
        path.touch()


class Statements:
    """What each operation sent to the database, for its query plans."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self.sent: list[tuple[str, Any]] = []
        self.on = False
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(
        self, _c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, many: bool
    ) -> None:
        if self.on and not many and not statement.lstrip().upper().startswith(("INSERT", "BEGIN")):
            self.sent.append((statement, parameters))

    def plans(self) -> list[str]:
        """One summary per distinct statement: its plan, FULL SCAN where a table is read whole."""
        found: dict[str, str] = {}
        dialect = self.db.engine.dialect.name
        for statement, parameters in self.sent:
            if statement in found or statement.upper().startswith(("SAVEPOINT", "SET", "SHOW")):
                continue
            if "pg_catalog" in statement or "information_schema" in statement:
                continue
            prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
            with self.db.engine.connect() as conn:
                rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            found[statement] = _summary(dialect, rows)
        return [f"`{_short(s)}`: {p}" for s, p in found.items()]


def _summary(dialect: str, rows: Sequence[Any]) -> str:
    if dialect == "sqlite":
        lines = [str(r[-1]) for r in rows]
        full = any(re.fullmatch(r"SCAN \w+", line) for line in lines)
    elif dialect == "postgresql":
        lines = [str(r[0]).strip() for r in rows]
        full = any("Seq Scan" in line for line in lines)
        lines = [re.sub(r"\s+\(cost=.*", "", line).lstrip("-> ") for line in lines]
        lines = [line for line in lines if line and not line.startswith(("Filter", "Rows"))]
    else:
        cols = rows[0]._fields if rows else ()
        lines = []
        for r in rows:
            m = dict(zip(cols, r, strict=False))
            lines.append(f"{m.get('table')}:{m.get('type')} key={m.get('key')} {m.get('Extra')}")
        full = any(":ALL " in line for line in lines)
    return ("**FULL SCAN** " if full else "") + " / ".join(lines)[:240]


def _short(statement: str) -> str:
    flat = re.sub(r"\s+", " ", statement)
    flat = re.sub(r"SELECT .*? FROM", "SELECT … FROM", flat, count=1)
    return flat[:150]


@contextmanager
def measured(stmts: Statements) -> Iterator[dict[str, Any]]:
    out: dict[str, Any] = {}
    stmts.sent.clear()
    stmts.on = True
    tracemalloc.start()
    began = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - began
        out["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        stmts.on = False
        out["statements"] = len(stmts.sent)


def timed(stmts: Statements, repeat: int, call: Callable[[], Any]) -> dict[str, Any]:
    call()  # warm
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
    with measured(stmts) as once:
        result = call()
    once["median"] = statistics.median(seconds) if seconds else once["seconds"]
    once["size"] = _size(result)
    once["plans"] = stmts.plans()
    return once


def _size(result: Any) -> str:
    content = getattr(result, "content", None)
    if isinstance(content, bytes):
        return f"{getattr(result, 'status_code', '')} {len(content):,} B"
    if isinstance(result, list):
        return f"{len(result):,} items"
    return ""


def _cursor(row: dict[str, Any]) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@contextmanager
def server_database(url: str) -> Iterator[str]:
    if url.startswith("sqlite") or not url:
        yield url
        return
    target = make_url(url)
    postgres = target.drivername.startswith("postgres")
    admin = create_engine(
        target.set(database="postgres" if postgres else "mysql"), isolation_level="AUTOCOMMIT"
    )
    name = str(target.database)
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text(f"drop database if exists {quoted}"))
        conn.execute(text(f"create database {quoted}"))
    try:
        yield url
    finally:
        with admin.connect() as conn:
            force = " with (force)" if postgres else ""
            conn.execute(text(f"drop database if exists {quoted}{force}"))
        admin.dispose()


def run(args: argparse.Namespace, root: Path, url: str) -> list[tuple[str, dict[str, Any]]]:
    data = root / "data"
    data.mkdir()
    files = data if args.files else None
    if files is not None:
        (files / "originals").mkdir()
        (files / "variants").mkdir()
    settings = Settings(
        data_dir=data,
        secret=SECRET,
        workers=0,
        catalog=url,
        rate_listing=0,
        metrics="prometheus",
    )
    dr: Darkroom = build(settings)
    db: SqlDatabase = dr.queue._db  # type: ignore[attr-defined]
    print(f"filling {db.backend} with {args.photos} photos…", file=sys.stderr)
    began = time.perf_counter()
    kept = fill(db, args.photos, args.queued, files)
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        elif db.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            for table in ("photos", "jobs", "runs", "shares"):
                conn.exec_driver_sql(f"ANALYZE TABLE {table}")
    print(f"filled in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    stmts = Statements(db)
    mine = [row for row in kept if row["owner"] == OWNER]
    newest_first = sorted(mine, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    middle, deep = newest_first[len(mine) // 2], newest_first[-60]
    one = newest_first[len(mine) // 3]
    shared = dr.sharing._shares.of_photo  # type: ignore[union-attr]
    by_hash = partial(dr.catalog.find_by_hash, OWNER)
    results: list[tuple[str, dict[str, Any]]] = []
    with TestClient(create_app(dr)) as client:

        def get(path: str, **params: Any) -> Callable[[], Any]:
            def call() -> Any:
                answer = client.get(path, params=params)
                assert answer.status_code < 300, (path, answer.status_code, answer.text[:200])
                return answer

            return call

        checks: list[tuple[str, Callable[[], Any], int]] = [
            ("GET /photos (50, first page)", get("/photos", limit=50), args.repeat),
            ("GET /photos (200, first page)", get("/photos", limit=200), args.repeat),
            ("GET /photos (50, middle)", get("/photos", limit=50, cursor=_cursor(middle)), 9),
            ("GET /photos (200, middle)", get("/photos", limit=200, cursor=_cursor(middle)), 9),
            ("GET /photos (50, last page)", get("/photos", limit=50, cursor=_cursor(deep)), 9),
            ("GET /photos/{id}", get(f"/photos/{one['id']}"), args.repeat),
            ("GET /photos/{id}/status", get(f"/photos/{one['id']}/status"), args.repeat),
            ("GET /status?key=", get("/status", key=one["key"]), args.repeat),
            ("GET /photos/{id}/shares", get(f"/photos/{one['id']}/shares"), args.repeat),
            ("shares of a photo", lambda: shared(one["id"]), args.repeat),
            ("find_by_hash (upload's dedupe)", lambda: by_hash(one["sha256"]), args.repeat),
            ("GET /list (seed 000)", get("/list"), 1),
            ("GET /admin/stats", get("/admin/stats"), 1),
            ("GET /admin", get("/admin"), 1),
            ("GET /metrics", get("/metrics"), 1),
            ("jobs (CLI listing)", lambda: dr.queue.jobs(LISTED, 10_000), 3),
            ("jobs retry (_retryable's listing)", lambda: dr.queue.jobs(QUEUED, 100_000), 1),
            ("claim a job", lambda: dr.queue.claim("bench", 300), args.repeat),
            ("doctor (examine)", lambda: dr.doctor().examine(), 0),
        ]
        for name, call, repeat in checks:
            if name.startswith("doctor") and args.skip_doctor:
                continue
            print(f"  {name}…", file=sys.stderr)
            results.append((name, timed(stmts, repeat, call)))
        victims = iter(newest_first[100:])

        def delete() -> Any:
            answer = client.delete(f"/photos/{next(victims)['id']}")
            assert answer.status_code == 204, answer.text
            return answer

        results.append(("DELETE /photos/{id}", timed(stmts, 5, delete)))
    dr.stop_workers()
    db.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="", help="a server URL; SQLite otherwise")
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--files", action="store_true", help="lay out the stores' files too")
    parser.add_argument("--skip-doctor", action="store_true")
    parser.add_argument("--plans", action="store_true", help="print each statement's plan")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="darkroom-catalog-"))
    url = args.catalog or f"sqlite:///{root / 'darkroom.db'}"
    try:
        with server_database(url):
            results = run(args, root, url)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.photos} photos, {args.queued} queued jobs, {url.split(':')[0]}\n")
    print("| what | median ms | statements | peak Python MB | answer |")
    print("|---|---|---|---|---|")
    for name, out in results:
        median = out.get("median") or out["seconds"]
        print(
            f"| {name} | {median * 1000:.1f} | {out['statements']} "
            f"| {out['peak'] / 1e6:.1f} | {out['size']} |"
        )
    if args.plans:
        for name, out in results:
            print(f"\n{name}:")
            for plan in out["plans"]:
                print(f"  - {plan}")


if __name__ == "__main__":
    main()
