"""Databases for the contract suites: SQLite on a temporary file, and the PostgreSQL and
MariaDB servers (`scripts/ensure-services.sh`). A server that does not answer fails the
run; it is never skipped. Each test starts from freshly created tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from darkroom.adapters.sql import SqlDatabase

SQL_BACKENDS = ("sqlite", "postgresql", "mariadb")
ADAPTERS = ("memory", *SQL_BACKENDS)


def sql_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'darkroom.db'}"
    if backend == "postgresql":
        return os.environ.get(
            "DARKROOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/darkroom_test"
        )
    return os.environ.get(
        "DARKROOM_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/darkroom_test"
    )


def _fresh(backend: str, tmp_path: Path) -> SqlDatabase:
    db = SqlDatabase(sql_url(backend, tmp_path))
    db.metadata.drop_all(db.engine)
    db.create_schema()
    return db


@pytest.fixture(params=ADAPTERS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase | None]:
    """None for the memory adapters, else an empty database."""
    if request.param == "memory":
        yield None
        return
    db = _fresh(request.param, tmp_path)
    yield db
    db.close()


@pytest.fixture(params=SQL_BACKENDS)
def sql_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    """For what only the SQL adapters promise (durability, cleanup, their own errors)."""
    db = _fresh(request.param, tmp_path)
    yield db
    db.close()
