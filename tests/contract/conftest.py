"""Databases for the contract suites: SQLite on a temporary file, and the PostgreSQL and
MariaDB servers (`scripts/ensure-services.sh`), in a database of the run's own. A server
that does not answer fails the run; it is never skipped. Each test starts from freshly
created tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from darkroom.adapters.sql import SqlDatabase

SQL_BACKENDS = ("sqlite", "postgresql", "mariadb")
ADAPTERS = ("memory", *SQL_BACKENDS)


_SERVERS = {
    "postgresql": ("DARKROOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/darkroom_test"),
    "mariadb": ("DARKROOM_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/darkroom_test"),
}


@pytest.fixture(scope="session")
def server_databases() -> Iterator[dict[str, str]]:
    """The URL of a database of this run's own on each server, made when a test first asks
    for it and dropped at the end, so that two runs on one machine never share tables.
    DARKROOM_TEST_POSTGRES or DARKROOM_TEST_MARIADB name one to use as it is instead."""
    made: dict[str, str] = {}
    yield made
    for url in made.values():
        _drop(url)


def _run_database(backend: str, made: dict[str, str]) -> str:
    variable, default = _SERVERS[backend]
    if variable in os.environ:
        return os.environ[variable]
    if backend not in made:
        url = make_url(default).set(database=f"darkroom_test_{os.getpid()}")
        made[backend] = url.render_as_string(hide_password=False)
        _drop(made[backend])  # left by a killed run that had the same process id
        _run_statement(made[backend], "create database {name}")
    return made[backend]


def _drop(url: str) -> None:
    # PostgreSQL refuses while a connection is open (one a failed test left behind)
    force = " with (force)" if make_url(url).drivername.startswith("postgres") else ""
    _run_statement(url, "drop database if exists {name}" + force)


def _run_statement(url: str, statement: str) -> None:
    """`statement` about `url`'s database, run from the server's maintenance database."""
    target = make_url(url)
    maintenance = target.set(
        database="postgres" if target.drivername.startswith("postgres") else "mysql"
    )
    engine = create_engine(maintenance, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement.format(name=target.database)))
    finally:
        engine.dispose()


def _fresh(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> SqlDatabase:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'darkroom.db'}"
    else:
        url = _run_database(backend, request.getfixturevalue("server_databases"))
    db = SqlDatabase(url)
    db.metadata.drop_all(db.engine)
    db.create_schema()
    return db


@pytest.fixture(params=ADAPTERS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase | None]:
    """None for the memory adapters, else an empty database."""
    if request.param == "memory":
        yield None
        return
    db = _fresh(request.param, tmp_path, request)
    yield db
    db.close()


@pytest.fixture(params=SQL_BACKENDS)
def sql_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlDatabase]:
    """For what only the SQL adapters promise (durability, cleanup, their own errors)."""
    db = _fresh(request.param, tmp_path, request)
    yield db
    db.close()
