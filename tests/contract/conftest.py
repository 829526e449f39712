"""Databases for the contract suites: SQLite on a temporary file, and the PostgreSQL and
MariaDB servers (`scripts/ensure-services.sh`), in a database of the run's own. A server
that does not answer fails the run; it is never skipped. Each test starts from freshly
created tables."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

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
    for it and dropped at the end, so that two runs sharing a server never share tables.
    DARKROOM_TEST_POSTGRES or DARKROOM_TEST_MARIADB name one to use as it is instead."""
    made: dict[str, str] = {}
    yield made
    for url in made.values():
        try:
            _run_statement(url, "drop database if exists {name}")
        except SQLAlchemyError as error:  # a run that killed its server, say: not a failure
            warnings.warn(f"test database left behind: {error}", stacklevel=1)


def _run_database(backend: str, made: dict[str, str]) -> str:
    variable, default = _SERVERS[backend]
    if variable in os.environ:
        return os.environ[variable]
    if backend not in made:
        url = make_url(default).set(database=f"darkroom_test_{uuid.uuid4().hex[:12]}")
        _run_statement(url.render_as_string(hide_password=False), "create database {name}")
        made[backend] = url.render_as_string(hide_password=False)
    return made[backend]


def _run_statement(url: str, statement: str) -> None:
    """`statement` about `url`'s database, run from the server's maintenance database."""
    target = make_url(url)
    postgres = target.drivername.startswith("postgres")
    if postgres and statement.startswith("drop"):
        statement += " with (force)"  # ends the connections a failed test left open
    engine = create_engine(
        target.set(database="postgres" if postgres else "mysql"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            if not postgres:  # a connection a failed test left open must not hold it forever
                connection.execute(text("set session lock_wait_timeout = 10"))
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
