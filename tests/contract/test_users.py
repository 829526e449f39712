"""The Users and Shares contracts, over the memory adapters and SQLite, PostgreSQL, MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from darkroom.adapters.memory import MemoryShares, MemoryUsers
from darkroom.adapters.sql import SqlDatabase
from darkroom.adapters.sql_accounts import SqlShares, SqlUsers
from darkroom.domain import Share, User
from darkroom.errors import Conflict, NotFound
from darkroom.ports import Shares, Users

NOW = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def users(database: SqlDatabase | None) -> Users:
    return MemoryUsers() if database is None else SqlUsers(database)


@pytest.fixture
def shares(database: SqlDatabase | None) -> Shares:
    return MemoryShares() if database is None else SqlShares(database)


def ann(**changes: object) -> User:
    return User("u1", "ann@example.org", "$argon2id$v=19$m=65536,t=3,p=4$x$y", NOW).evolve(
        **changes
    )


def test_a_user_survives_the_round_trip(users: Users) -> None:
    users.add(ann(verified=True, session=3))
    assert users.get("u1") == ann(verified=True, session=3)
    assert users.find("ann@example.org") == ann(verified=True, session=3)


def test_emails_are_matched_in_lower_case(users: Users) -> None:
    users.add(ann(email="Ann@Example.ORG"))
    found = users.find("ANN@example.org")
    assert found is not None and found.id == "u1" and found.email == "ann@example.org"
    assert users.find("bob@example.org") is None


def test_ids_and_emails_are_unique(users: Users) -> None:
    users.add(ann())
    with pytest.raises(Conflict):
        users.add(ann(id="u2"))
    with pytest.raises(Conflict):
        users.add(ann(email="other@example.org"))


def test_update_replaces_and_unknown_users_are_not_found(users: Users) -> None:
    users.add(ann())
    users.update(ann(verified=True, session=1, password_hash="new"), users.get("u1"))
    assert users.get("u1") == ann(verified=True, session=1, password_hash="new")
    with pytest.raises(NotFound):
        users.get("nobody")
    nobody = ann(id="nobody", email="nobody@example.org")
    with pytest.raises(NotFound):
        users.update(nobody.evolve(session=1), nobody)


def test_an_update_from_a_stale_read_is_refused(users: Users) -> None:
    """A sign-out that read the user before a password change must not restore the old
    password when it writes."""
    users.add(ann(verified=True))
    before = users.get("u1")
    users.update(before.evolve(password_hash="changed", session=1), before)
    with pytest.raises(Conflict):
        users.update(before.evolve(session=1), before)
    assert users.get("u1") == ann(verified=True, password_hash="changed", session=1)


def test_shares_of_a_photo_oldest_first_and_revocable(shares: Shares) -> None:
    later = Share("s2", "p1", "u1", NOW + timedelta(seconds=1), NOW + timedelta(days=1))
    first = Share("s1", "p1", "u1", NOW, NOW + timedelta(hours=1))
    shares.add(later)
    shares.add(first)
    shares.add(Share("s3", "p2", "u1", NOW, NOW + timedelta(hours=1)))
    assert shares.of_photo("p1") == [first, later]
    assert shares.get("s1") == first
    shares.delete("s1")
    shares.delete("s1")
    with pytest.raises(NotFound):
        shares.get("s1")
    assert shares.of_photo("p1") == [later]
