"""The query plans of what an adapter sends: which statements a call made, and how each
backend's planner would run them, so that a test can require an index where a large
library would otherwise be read whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from darkroom.adapters.sql import SqlDatabase


@contextmanager
def statements(db: SqlDatabase) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT, UPDATE and DELETE statements sent inside the block, with their
    parameters."""
    sent: list[tuple[str, Any]] = []

    def seen(*args: Any) -> None:
        statement, parameters, many = args[2], args[3], args[5]
        if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


def plans(db: SqlDatabase, call: Callable[[], object]) -> list[str]:
    """One text per statement `call` sent: the planner's lines joined (SQLite's
    `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN` with sequential scans made as costly as it
    can, so that a table of a few rows is read through an index wherever one serves, and
    MariaDB's `EXPLAIN` as `table:type:key` rows)."""
    with statements(db) as sent:
        call()
    assert sent, "the call sent no statement"
    found = []
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in sent:
            if dialect == "sqlite":
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                found.append(" / ".join(str(row[-1]) for row in rows))
            elif dialect == "postgresql":
                rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
                found.append(" / ".join(str(row[0]).strip() for row in rows))
            else:
                result = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
                described = [dict(zip(result.keys(), row, strict=True)) for row in result]
                found.append(
                    " / ".join(
                        f"{row['table']}:{row['type']}:{row['key']}:{row['Extra']}"
                        for row in described
                    )
                )
        conn.rollback()
    return found


def reads_whole_table(plan: str) -> bool:
    """The plan reads every row of a table (an index read in full counts too)."""
    return any(
        marker in step
        for step in plan.split(" / ")
        for marker in ("SCAN ", "Seq Scan", ":ALL:", ":index:")
        if not step.startswith(("SCAN CONSTANT", "USE TEMP"))
    )


def rows_read(db: SqlDatabase, call: Callable[[], object]) -> int:
    """How many rows the one statement `call` sends makes PostgreSQL or MariaDB read, as
    their EXPLAIN ANALYZE / ANALYZE count them (filtered out or not)."""
    with statements(db) as sent:
        call()
    [(statement, parameters)] = sent
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            answer = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).scalar_one()
            total = _scanned(answer[0]["Plan"])
        else:
            result = conn.exec_driver_sql("ANALYZE " + statement, parameters)
            total = sum(
                round(float(row["r_rows"] or 0)) for row in result.mappings() if row["table"]
            )
        conn.rollback()
    return total


def _scanned(node: dict[str, Any]) -> int:
    own = 0
    if "Scan" in node["Node Type"]:
        own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
    return own + sum(_scanned(child) for child in node.get("Plans", []))
