"""Users and share links in the catalog's SQL database (SQLite, PostgreSQL, MySQL/MariaDB).

The tables join `SqlDatabase`'s schema when this module is imported; `bootstrap` imports
it before creating the schema whenever darkroom keeps its own accounts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, Row, Table, delete, insert, select, update

from darkroom.adapters.sql import METADATA, SqlDatabase, UtcDateTime, exact_text
from darkroom.domain import Share, User
from darkroom.errors import Conflict, NotFound

users_table = Table(
    "users",
    METADATA,
    Column("id", exact_text(64), primary_key=True),
    Column("email", exact_text(320), nullable=False, unique=True),
    Column("password_hash", exact_text(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("session", Integer, nullable=False),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
shares_table = Table(
    "shares",
    METADATA,
    Column("id", exact_text(64), primary_key=True),
    Column("photo_id", exact_text(64), nullable=False),
    Column("owner", exact_text(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_shares_photo", "photo_id", "created_at"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


class SqlUsers:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    def add(self, user: User) -> None:
        try:
            with self._db.connection(write=True) as conn:
                conn.execute(insert(users_table).values(_user_row(user)))
        except Conflict as error:
            raise Conflict(f"user {user.id} or that email already exists") from error

    def get(self, user_id: str) -> User:
        found = self._first(users_table.c.id == user_id)
        if found is None:
            raise NotFound(f"no user {user_id!r}")
        return found

    def find(self, email: str) -> User | None:
        return self._first(users_table.c.email == email.lower())

    def update(self, user: User, expected: User) -> None:
        values = _user_row(user)
        del values["id"]
        was = _user_row(expected)
        unchanged = [
            getattr(users_table.c, name) == was[name]
            for name in ("id", "email", "password_hash", "verified", "session")
        ]
        with self._db.connection(write=True) as conn:
            changed = conn.execute(update(users_table).where(*unchanged).values(values)).rowcount
        if changed != 1:
            self.get(user.id)  # NotFound if it is gone
            raise Conflict(f"user {user.id} changed meanwhile")

    def _first(self, condition: Any) -> User | None:
        with self._db.connection(write=False) as conn:
            row = conn.execute(select(users_table).where(condition)).first()
        return None if row is None else User(**dict(row._mapping))


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email.lower(),
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "verified": user.verified,
        "session": user.session,
    }


class SqlShares:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    def add(self, share: Share) -> None:
        with self._db.connection(write=True) as conn:
            conn.execute(insert(shares_table).values(_share_row(share)))

    def get(self, share_id: str) -> Share:
        with self._db.connection(write=False) as conn:
            row = conn.execute(select(shares_table).where(shares_table.c.id == share_id)).first()
        if row is None:
            raise NotFound("no such share")
        return _share(row)

    def of_photo(self, photo_id: str) -> list[Share]:
        c = shares_table.c
        query = select(shares_table).where(c.photo_id == photo_id).order_by(c.created_at, c.id)
        with self._db.connection(write=False) as conn:
            return [_share(row) for row in conn.execute(query)]

    def delete(self, share_id: str) -> None:
        with self._db.connection(write=True) as conn:
            conn.execute(delete(shares_table).where(shares_table.c.id == share_id))


def _share_row(share: Share) -> dict[str, Any]:
    return {
        "id": share.id,
        "photo_id": share.photo_id,
        "owner": share.owner,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
    }


def _share(row: Row[Any]) -> Share:
    return Share(**dict(row._mapping))
