"""The catalog in SQLite, PostgreSQL or MySQL/MariaDB, through SQLAlchemy Core.

`SqlDatabase` owns the engine, the schema and the transactions that `SqlCatalog` and
`LocalJobQueue` share, so a photo row and its job land in one commit.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    delete,
    event,
    exc,
    func,
    insert,
    inspect,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator, TypeEngine

from darkroom.domain import Claim, Page, Photo, PhotoStatus, Variant
from darkroom.errors import BadRequest, Conflict, NotFound, Unavailable

_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
}
_BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
_SQLITE_BUSY_SECONDS = 30.0
_MANY = 500
"""Ids one `IN (…)` carries at most: well under any backend's bound on parameters."""
_EVERY_PAGE = 500
"""Photos a page of `SqlCatalog.every` reads."""
_CLAIM_ATTEMPTS = 5
"""Rounds of `claim_bytes` lost to other photos' claims and releases before giving up."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out. Only PostgreSQL keeps a zone, so elsewhere UTC is stored naive."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("darkroom stores aware datetimes only")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def exact_text(length: int) -> TypeEngine[str]:
    """Compared byte for byte everywhere, as Python compares: S3 keys are case-sensitive, and
    newest-first ties are broken by id in the same order on every backend."""
    return (
        String(length)
        .with_variant(String(length, collation="C"), "postgresql")
        .with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql")
    )


def _long_text() -> TypeEngine[str]:
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


METADATA = MetaData()
photos_table = Table(
    "photos",
    METADATA,
    Column("id", exact_text(64), primary_key=True),
    Column("owner", exact_text(255), nullable=False),
    Column("key", exact_text(512), nullable=False),
    Column("filename", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", exact_text(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("variants", _long_text(), nullable=False),
    Column("metadata", _long_text(), nullable=False),
    Column("duplicate_of", exact_text(64), nullable=False),
    Column("recipe", String(64), nullable=False),
    Column("blurhash", String(128), nullable=False, server_default=""),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("key", name="uq_photos_key"),
    Index("ix_photos_created", "created_at", "id"),
    Index("ix_photos_owner_created", "owner", "created_at", "id"),
    Index("ix_photos_owner_sha256", "owner", "sha256"),
    Index("ix_photos_status", "status"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
jobs_table = Table(
    "jobs",
    METADATA,
    Column("id", exact_text(64), primary_key=True),
    Column("photo_id", exact_text(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("run_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("worker", String(255), nullable=True),
    Column("correlation_id", String(64), nullable=False, server_default=""),
    Column("kind", String(255), nullable=False, server_default="process"),
    Index("ix_jobs_state_run_at", "state", "run_at"),
    Index("ix_jobs_photo_id", "photo_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


keepers_table = Table(
    "keepers",
    METADATA,
    Column("owner", exact_text(255), primary_key=True),
    Column("sha256", exact_text(64), primary_key=True),
    Column("photo_id", exact_text(64), nullable=False),
    Index("ix_keepers_photo", "photo_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
"""Which photo keeps an owner's bytes of a digest (`Catalog.claim_bytes`)."""


runs_table = Table(
    "runs",
    METADATA,
    Column("id", exact_text(64), primary_key=True),
    Column("photo_id", exact_text(64), nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("stages", Text, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Index("ix_runs_finished", "finished_at"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


@dataclass(eq=False)
class _Scope:
    database: SqlDatabase
    connection: Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)


_OPEN: ContextVar[tuple[_Scope, ...]] = ContextVar("darkroom_sql_transactions", default=())
"""The atomic() blocks open in this thread or task, at most one per database."""


class SqlDatabase:
    """One database: engine, schema, transactions. Implements `ports.Transactions`."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        scheme = parsed.drivername.split("+")[0]
        if scheme not in _DRIVERS:
            raise ValueError(f"not a SQL database URL: scheme {scheme!r}")
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername=_DRIVERS[scheme])
        self.backend = _BACKENDS[parsed.get_backend_name()]
        self._where = (parsed.database or "") if scheme == "sqlite" else _server(parsed)
        self.metadata = METADATA
        self.engine = create_engine(parsed, **_engine_options(parsed))
        if scheme == "sqlite":
            _sqlite_transactions(self.engine)

    def create_schema(self) -> None:
        """Create the tables if missing. Another process may be doing the same right now."""
        if self.engine.dialect.name == "sqlite" and self._where not in ("", ":memory:"):
            Path(self._where).parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.connection(write=True) as conn:
                self.metadata.create_all(conn)
        except (exc.DatabaseError, Conflict, Unavailable):
            # Lost a race with another process creating the same tables: they exist now.
            with self.connection(write=True) as conn:
                self.metadata.create_all(conn)
        self._add_new_columns()
        self._add_new_indexes()

    def _add_new_columns(self) -> None:
        """Columns added to a table since a database was made; each has a default."""
        for table in self.metadata.sorted_tables:
            there = self._columns(table)
            for column in table.columns:
                if column.name in there:
                    continue
                try:
                    self._add_column(table, column)
                except (exc.DatabaseError, Conflict, Unavailable):
                    # Lost a race with another process adding it: it is there now.
                    if column.name not in self._columns(table):
                        raise

    def _add_new_indexes(self) -> None:
        """Indexes added to a table since a database was made: `create_all` makes a table's
        indexes only with the table."""
        for table in self.metadata.sorted_tables:
            there = self._indexes(table)
            for index in table.indexes:
                if index.name in there:
                    continue
                try:
                    with self.connection(write=True) as conn:
                        index.create(conn)
                except (exc.DatabaseError, Conflict, Unavailable):
                    # Lost a race with another process making it: it is there now.
                    if index.name not in self._indexes(table):
                        raise

    def _indexes(self, table: Table) -> set[str | None]:
        with self.connection(write=False) as conn:
            return {i["name"] for i in inspect(conn).get_indexes(table.name)}

    def _add_column(self, table: Table, column: Column[Any]) -> None:
        with self.connection(write=True) as conn:
            kind = column.type.compile(conn.dialect)
            default = column.server_default.arg  # type: ignore[union-attr]
            conn.exec_driver_sql(
                f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind} "
                f"NOT NULL DEFAULT '{default}'"
            )

    def _columns(self, table: Table) -> set[str]:
        with self.connection(write=False) as conn:
            return {c["name"] for c in inspect(conn).get_columns(table.name)}

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction for every call made inside, in this thread; nested blocks join."""
        if self._scope() is not None:
            yield
            return
        with self._vendor_errors(), self.engine.connect() as conn:
            conn.execution_options(darkroom_write=True)
            scope = _Scope(self, conn)
            token = _OPEN.set((*_OPEN.get(), scope))
            try:
                with conn.begin():
                    yield
            finally:
                _OPEN.reset(token)
        for callback in scope.after_commit:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the open transaction commits (never if it rolls back), or now."""
        scope = self._scope()
        if scope is None:
            callback()
        else:
            scope.after_commit.append(callback)

    @contextmanager
    def connection(self, *, write: bool) -> Iterator[Connection]:
        """The open atomic() transaction's connection, or a short transaction of its own."""
        scope = self._scope()
        with self._vendor_errors():
            if scope is not None:
                yield scope.connection
                return
            with self.engine.connect() as conn:
                conn.execution_options(darkroom_write=write)
                with conn.begin():
                    yield conn

    def _scope(self) -> _Scope | None:
        return next((s for s in _OPEN.get() if s.database is self), None)

    @contextmanager
    def _vendor_errors(self) -> Iterator[None]:
        try:
            yield
        except exc.IntegrityError as error:
            raise Conflict(f"{self.backend} refused the write: {_reason(error)}") from error
        except exc.DataError as error:
            raise BadRequest(f"{self.backend} refused a value: {_reason(error)}") from error
        except (exc.OperationalError, exc.InterfaceError) as error:
            raise Unavailable(
                f"{self.backend} at {self._where} is not answering: {_reason(error)}"
            ) from error
        except (exc.DisconnectionError, exc.TimeoutError) as error:
            raise Unavailable(f"{self.backend} at {self._where} is not answering") from error


class SqlCatalog:
    """Photo rows; `update` is `UPDATE … WHERE id = ? AND version = ?`."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    def add(self, photo: Photo) -> None:
        try:
            with self._db.connection(write=True) as conn:
                conn.execute(insert(photos_table).values(_photo_row(photo)))
        except Conflict as error:
            raise Conflict(f"photo {photo.id} or key {photo.key!r} already exists") from error

    def get(self, photo_id: str) -> Photo:
        found = self._first(photos_table.c.id == photo_id)
        if found is None:
            raise NotFound(f"no photo {photo_id!r}")
        return found

    def get_many(self, photo_ids: Collection[str]) -> dict[str, Photo]:
        wanted = sorted(set(photo_ids))
        found: dict[str, Photo] = {}
        # In slices, so that no statement carries more parameters than a backend takes.
        with self._db.connection(write=False) as conn:
            for at in range(0, len(wanted), _MANY):
                ids = wanted[at : at + _MANY]
                rows = conn.execute(select(photos_table).where(photos_table.c.id.in_(ids)))
                found.update((photo.id, photo) for photo in map(_photo, rows))
        return found

    def get_by_key(self, key: str) -> Photo:
        found = self._first(photos_table.c.key == key)
        if found is None:
            raise NotFound(f"no photo stored under {key!r}")
        return found

    def find_by_hash(self, owner: str, sha256: str) -> list[Photo]:
        # Sorted here, not by the database: asked to sort, SQLite walks the owner's whole
        # (owner, created_at, id) index, every photo of theirs, rather than look the digest
        # up in (owner, sha256) and sort the one or two photos it finds.
        query = select(photos_table).where(
            photos_table.c.owner == owner, photos_table.c.sha256 == sha256
        )
        with self._db.connection(write=False) as conn:
            found = [_photo(row) for row in conn.execute(query)]
        return sorted(found, key=lambda photo: (photo.created_at, photo.id))

    def claim_bytes(self, owner: str, sha256: str, photo_id: str, *, replacing: str = "") -> str:
        """The primary key decides between photos claiming at once: a second insert waits
        for the first's transaction and is refused."""
        c = keepers_table.c
        held = and_(c.owner == owner, c.sha256 == sha256)
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                with self._db.connection(write=True) as conn:
                    keeper = conn.execute(select(c.photo_id).where(held)).scalar()
                    if keeper is None:
                        conn.execute(
                            insert(keepers_table).values(
                                owner=owner, sha256=sha256, photo_id=photo_id
                            )
                        )
                        return photo_id
                    if keeper != replacing:
                        return str(keeper)
                    taken = conn.execute(
                        update(keepers_table)
                        .where(held, c.photo_id == replacing)
                        .values(photo_id=photo_id)
                    ).rowcount
                    if taken == 1:
                        return photo_id
            except Conflict:
                pass  # another photo claimed them first: read which
        raise Conflict(f"the keeper of {owner}'s bytes {sha256[:12]}… kept changing")

    def every_with_claims(self) -> Iterator[Photo | Claim]:
        """The claims after the photos, by primary key, a page at a time, each page
        entered after the last of the one before."""
        yield from self.every()
        c = keepers_table.c
        last: Claim | None = None
        while True:
            query = select(c.owner, c.sha256, c.photo_id).order_by(c.owner, c.sha256)
            if last is not None:
                query = query.where(
                    or_(c.owner > last.owner, and_(c.owner == last.owner, c.sha256 > last.sha256))
                )
            with self._db.connection(write=False) as conn:
                page = [Claim(*row) for row in conn.execute(query.limit(_EVERY_PAGE))]
            yield from page
            if len(page) < _EVERY_PAGE:
                return
            last = page[-1]

    def release(self, claim: Claim) -> None:
        c = keepers_table.c
        with self._db.connection(write=True) as conn:
            conn.execute(
                delete(keepers_table).where(
                    c.owner == claim.owner,
                    c.sha256 == claim.sha256,
                    c.photo_id == claim.photo_id,
                )
            )

    def every(self) -> Iterator[Photo]:
        """By id, a page at a time from the primary key: each page enters it at the last id
        of the one before, so the whole pass reads every row once."""
        c = photos_table.c
        after = None
        while True:
            query = select(photos_table).order_by(c.id).limit(_EVERY_PAGE)
            if after is not None:
                query = query.where(c.id > after)
            with self._db.connection(write=False) as conn:
                page = [_photo(row) for row in conn.execute(query)]
            yield from page
            if len(page) < _EVERY_PAGE:
                return
            after = page[-1].id

    def list(self, owner: str, limit: int, cursor: str | None = None) -> Page[Photo]:
        c = photos_table.c
        query = select(photos_table).order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
        query = query.where(c.owner == owner)
        # MariaDB reads an owner's page deep in the library by `ref` on the owner, from their
        # newest photo down to the cursor (1.1 s in the middle of 90 000), where the index
        # named is entered as a range at the cursor.
        query = query.with_hint(photos_table, "FORCE INDEX (ix_photos_owner_created)", "mysql")
        if cursor:
            created, after_id = _position(cursor)
            # `created_at <= created` says the same as the rest, for the planner: without it
            # SQLite starts at the owner's newest photo and reads every one down to the page.
            query = query.where(
                c.created_at <= created,
                or_(c.created_at < created, and_(c.created_at == created, c.id < after_id)),
            )
        with self._db.connection(write=False) as conn:
            rows = conn.execute(query).all()
        items = tuple(_photo(row) for row in rows[:limit])
        more = len(rows) > limit
        return Page(items, _cursor(items[-1]) if more and items else None)

    def count_by_status(self) -> dict[str, int]:
        c = photos_table.c
        query = select(c.status, func.count()).group_by(c.status)
        with self._db.connection(write=False) as conn:
            return {str(status): int(count) for status, count in conn.execute(query)}

    def update(self, photo: Photo) -> Photo:
        c = photos_table.c
        values = _photo_row(photo) | {"version": photo.version + 1}
        del values["id"]
        with self._db.connection(write=True) as conn:
            changed = conn.execute(
                update(photos_table)
                .where(c.id == photo.id, c.version == photo.version)
                .values(values)
            ).rowcount
            if changed != 1:
                stored = conn.execute(select(c.version).where(c.id == photo.id)).scalar()
                if stored is None:
                    raise NotFound(f"no photo {photo.id!r}")
                raise Conflict(f"photo {photo.id} changed (version {stored})")
        return photo.evolve(version=photo.version + 1)

    def delete(self, photo_id: str) -> None:
        with self._db.connection(write=True) as conn:
            conn.execute(delete(photos_table).where(photos_table.c.id == photo_id))
            conn.execute(delete(keepers_table).where(keepers_table.c.photo_id == photo_id))

    def _first(self, condition: Any) -> Photo | None:
        with self._db.connection(write=False) as conn:
            row = conn.execute(select(photos_table).where(condition)).first()
        return None if row is None else _photo(row)


def _photo_row(photo: Photo) -> dict[str, Any]:
    row = {f.name: getattr(photo, f.name) for f in dataclasses.fields(Photo)}
    row["status"] = photo.status.value
    row["variants"] = json.dumps([dataclasses.asdict(v) for v in photo.variants])
    row["metadata"] = json.dumps(dict(photo.metadata))
    return row


def _photo(row: Row[Any]) -> Photo:
    values = dict(row._mapping)
    values["status"] = PhotoStatus(values["status"])
    values["variants"] = tuple(Variant(**v) for v in json.loads(values["variants"]))
    values["metadata"] = json.loads(values["metadata"])
    return Photo(**values)


def _cursor(photo: Photo) -> str:
    raw = f"{photo.created_at.astimezone(UTC).isoformat()}|{photo.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _position(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, photo_id = raw.split("|", 1)
        created = datetime.fromisoformat(stamp)
        if created.tzinfo is None:
            raise ValueError("a time without its zone")
        # a time with no UTC equivalent (the year 1 at +23:59) overflows
        return created.astimezone(UTC), photo_id
    except (ValueError, OverflowError):
        raise BadRequest("not a page cursor darkroom gave out") from None


def _server(url: URL) -> str:
    port = f":{url.port}" if url.port else ""
    return f"{url.host or 'localhost'}{port}/{url.database or ''}"


def _reason(error: exc.DBAPIError) -> str:
    """The driver's own words: never the statement's parameters, never the URL."""
    lines = str(error.orig).strip().splitlines()
    return lines[0][:300] if lines else type(error.orig).__name__


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"check_same_thread": False, "timeout": _SQLITE_BUSY_SECONDS}}
    options: dict[str, Any] = {"pool_pre_ping": True, "isolation_level": "READ COMMITTED"}
    if url.get_backend_name() == "mysql" and "charset" not in url.query:
        options["connect_args"] = {"charset": "utf8mb4"}
    return options


def _sqlite_transactions(engine: Engine) -> None:
    """WAL lets readers run beside one writer, across threads and processes. Writes start
    with BEGIN IMMEDIATE: a deferred transaction that reads and then writes would fail at
    once with "database is locked" when another writer got in between, busy timeout or not."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi.isolation_level = None
        dbapi.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still survives a killed process; only power loss may drop the
        # last commits.
        dbapi.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("darkroom_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
