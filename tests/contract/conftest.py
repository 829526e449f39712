"""Databases for the contract suites: SQLite on a temporary file, and the PostgreSQL and
MariaDB servers (`scripts/ensure-services.sh`), in a database of the run's own. A server
that does not answer fails the run; it is never skipped. Each test starts from freshly
created tables."""

from __future__ import annotations

import os
import re
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from darkroom.adapters.sql import SqlDatabase

SQL_BACKENDS = ("sqlite", "postgresql", "mariadb")
ADAPTERS = ("memory", *SQL_BACKENDS)


_SERVERS = {
    "postgresql": ("DARKROOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/darkroom_test"),
    "mariadb": ("DARKROOM_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/darkroom_test"),
}


_RUN_NAME = re.compile(r"darkroom_test_([0-9]{10})_[0-9a-f]{8}")
_STALE_AFTER = 6 * 3600
"""Seconds after which a run's database was left by a run that was killed: none lasts it."""


@pytest.fixture(scope="session")
def server_databases() -> Iterator[dict[str, str]]:
    """The URL of a database of this run's own on each server, made when a test first asks
    for it and dropped at the end, so that two runs sharing a server never share tables.
    DARKROOM_TEST_POSTGRES or DARKROOM_TEST_MARIADB name one to use as it is instead."""
    made: dict[str, str] = {}
    yield made
    for url in made.values():
        try:
            with _maintenance(url) as (connection, name):
                _drop(connection, name)
        except SQLAlchemyError as error:  # a run that killed its server, say: not a failure
            warnings.warn(f"test database left behind: {error}", stacklevel=1)


def _run_database(backend: str, made: dict[str, str]) -> str:
    variable, default = _SERVERS[backend]
    if variable in os.environ:
        return os.environ[variable]
    if backend not in made:
        name = f"darkroom_test_{int(time.time())}_{uuid.uuid4().hex[:8]}"
        url = make_url(default).set(database=name).render_as_string(hide_password=False)
        with _maintenance(url) as (connection, _):
            _sweep(connection)
            quoted = connection.dialect.identifier_preparer.quote(name)
            connection.execute(text(f"create database {quoted}"))
        made[backend] = url
    return made[backend]


@contextmanager
def _maintenance(url: str) -> Iterator[tuple[Connection, str]]:
    """A connection to the server's maintenance database, and the name `url` names."""
    target = make_url(url)
    postgres = target.drivername.startswith("postgres")
    engine = create_engine(
        target.set(database="postgres" if postgres else "mysql"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            if not postgres:  # a connection a failed test left open must not hold it forever
                connection.execute(text("set session lock_wait_timeout = 10"))
            yield connection, str(target.database)
    finally:
        engine.dispose()


def _drop(connection: Connection, name: str) -> None:
    quoted = connection.dialect.identifier_preparer.quote(name)
    # PostgreSQL: ends the connections a failed test left open
    force = " with (force)" if connection.dialect.name == "postgresql" else ""
    connection.execute(text(f"drop database if exists {quoted}{force}"))


def _sweep(connection: Connection) -> None:
    """Drops what runs that were killed left on the server (a run's database is dropped
    after `_STALE_AFTER` even if that run still lives: none takes that long)."""
    listed = (
        "select datname from pg_database"
        if connection.dialect.name == "postgresql"
        else "show databases"
    )
    for (name,) in connection.execute(text(listed)).all():
        made = _RUN_NAME.fullmatch(str(name))
        if made and time.time() - int(made[1]) > _STALE_AFTER:
            try:
                _drop(connection, made[0])
            except SQLAlchemyError as error:  # in use, say: the next run tries again
                warnings.warn(f"old test database {name} left: {error}", stacklevel=1)


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
