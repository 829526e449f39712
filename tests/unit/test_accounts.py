"""darkroom's own accounts on memory adapters: passwords, tokens, sessions."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher

from darkroom.adapters.memory import MemoryMailer, MemoryUsers
from darkroom.domain import User
from darkroom.errors import BadRequest, Unauthorized
from darkroom.services.accounts import Accounts, Lifetimes
from darkroom.tokens import TokenCodec

PASSWORD = "a long enough password"


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def users() -> MemoryUsers:
    return MemoryUsers()


@pytest.fixture
def accounts(users: MemoryUsers, mailer: MemoryMailer) -> Accounts:
    codec = TokenCodec(b"unit-test-secret-0123")
    return Accounts(users, mailer, codec, "https://gallery.test/app", Lifetimes(access=60))


def _token(mailer: MemoryMailer, action: str) -> str:
    match = re.search(rf"https://gallery\.test/app/#{action}=(\S+)", mailer.sent[-1].body)
    assert match is not None, mailer.sent[-1].body
    return match[1]


def _verified(accounts: Accounts, mailer: MemoryMailer, email: str = "ann@example.org") -> None:
    accounts.sign_up(email, PASSWORD)
    accounts.verify("", _token(mailer, "verify"))


def test_passwords_are_stored_as_argon2id(
    accounts: Accounts, users: MemoryUsers, mailer: MemoryMailer
) -> None:
    _verified(accounts, mailer, " Ann@Example.org ")
    user = users.find("ann@example.org")
    assert user is not None and user.verified
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    tokens = accounts.sign_in("ANN@example.org", PASSWORD)
    assert accounts.authenticate(tokens.access_token) == user.id
    assert tokens.expires_in == 60


@pytest.mark.parametrize(
    ("email", "password"),
    [("not an address", PASSWORD), ("a@b.org", "short"), ("a@b.org", "x" * 1025)],
)
def test_bad_sign_ups_are_refused(accounts: Accounts, email: str, password: str) -> None:
    with pytest.raises(BadRequest):
        accounts.sign_up(email, password)


def test_tokens_are_not_interchangeable(accounts: Accounts, mailer: MemoryMailer) -> None:
    accounts.sign_up("ann@example.org", PASSWORD)
    verify = _token(mailer, "verify")
    with pytest.raises(Unauthorized):
        accounts.authenticate(verify)
    accounts.verify("", verify)
    tokens = accounts.sign_in("ann@example.org", PASSWORD)
    with pytest.raises(Unauthorized):
        accounts.authenticate(tokens.refresh_token)
    with pytest.raises(Unauthorized):
        accounts.refresh(tokens.access_token)
    with pytest.raises(Unauthorized):
        accounts.verify("", tokens.access_token)


def test_an_unverified_sign_up_again_sets_a_new_password(
    accounts: Accounts, mailer: MemoryMailer
) -> None:
    accounts.sign_up("ann@example.org", "somebody else's password")
    first = _token(mailer, "verify")
    accounts.sign_up("ann@example.org", PASSWORD)
    with pytest.raises(Unauthorized, match="out of date"):
        accounts.verify("", first)
    accounts.verify("", _token(mailer, "verify"))
    with pytest.raises(Unauthorized):
        accounts.sign_in("ann@example.org", "somebody else's password")
    accounts.sign_in("ann@example.org", PASSWORD)


def test_a_sign_up_costs_the_same_whether_or_not_the_address_has_an_account(
    accounts: Accounts, mailer: MemoryMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its time is argon2's: one hash fewer for an account that exists would tell (about
    4 ms against 250) who has one, however alike the answers."""
    _verified(accounts, mailer, "ann@example.org")
    accounts.sign_up("bob@example.org", PASSWORD)  # not verified
    hashes: list[str] = []

    class Counting(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            hashes.append("hash")
            return super().hash(password, salt=salt)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    for email in ("ann@example.org", "bob@example.org", "cyd@example.org"):
        before = len(hashes)
        accounts.sign_up(email, PASSWORD)
        assert len(hashes) - before == 1, email


def test_a_reset_asked_for_an_address_without_an_account_is_mailed_too(
    accounts: Accounts, mailer: MemoryMailer
) -> None:
    """Both answers take the mail server's round trip, and both fail alike without one: a
    reset mailed only where there is an account told who has one by its time."""
    _verified(accounts, mailer, "ann@example.org")
    accounts.forgot_password("ann@example.org")
    accounts.forgot_password(" Nobody@Example.org ")
    reset, none = mailer.sent[-2:]
    assert reset.to == "ann@example.org" and "#reset=" in reset.body
    assert none.to == "nobody@example.org" and "no account" in none.body
    assert "#reset=" not in none.body and "https://gallery.test/app/" in none.body


def test_changing_the_password_ends_every_session(accounts: Accounts, mailer: MemoryMailer) -> None:
    _verified(accounts, mailer)
    tokens = accounts.sign_in("ann@example.org", PASSWORD)
    with pytest.raises(Unauthorized, match="current password"):
        accounts.change_password(tokens.access_token, "wrong password!", "a new password 2")
    accounts.change_password(tokens.access_token, PASSWORD, "a new password 2")
    with pytest.raises(Unauthorized):
        accounts.refresh(tokens.refresh_token)
    again = accounts.sign_in("ann@example.org", "a new password 2")
    accounts.sign_out(again.access_token)
    with pytest.raises(Unauthorized, match="signed out"):
        accounts.authenticate(again.access_token)


class _ChangedMeanwhile(MemoryUsers):
    """Before the first write, another request changes the password: the writer's read is
    stale by the time it writes."""

    def __init__(self) -> None:
        super().__init__()
        self.interleave: Callable[[], None] | None = None

    def update(self, user: User, expected: User) -> None:
        interleave, self.interleave = self.interleave, None
        if interleave is not None:
            interleave()
        super().update(user, expected)


def test_a_sign_out_during_a_password_change_keeps_the_new_password(
    mailer: MemoryMailer,
) -> None:
    users = _ChangedMeanwhile()
    codec = TokenCodec(b"unit-test-secret-0123")
    accounts = Accounts(users, mailer, codec, "https://gallery.test/app", Lifetimes(access=60))
    _verified(accounts, mailer)
    tokens = accounts.sign_in("ann@example.org", PASSWORD)
    other = accounts.sign_in("ann@example.org", PASSWORD)
    users.interleave = lambda: accounts.change_password(
        other.access_token, PASSWORD, "the new password of ann"
    )
    accounts.sign_out(tokens.access_token)

    accounts.sign_in("ann@example.org", "the new password of ann")
    with pytest.raises(Unauthorized):
        accounts.sign_in("ann@example.org", PASSWORD)
    user = users.find("ann@example.org")
    assert user is not None and user.session == 2  # both ended the sessions
