"""darkroom's own accounts on memory adapters: passwords, tokens, sessions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Literal

import pytest
from argon2 import PasswordHasher

from darkroom.adapters.memory import MemoryMailer, MemoryUsers
from darkroom.domain import User
from darkroom.errors import BadRequest, Unauthorized
from darkroom.services.accounts import Accounts, Lifetimes, check_password
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


COMPOSED = "Café crème brûlée"  # "é", "è", "û" as one code point each (NFC)
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # a letter, then its combining accent


def test_a_password_typed_on_another_keyboard_signs_in(
    accounts: Accounts, mailer: MemoryMailer
) -> None:
    """The same keys give "é" as one code point on one system and as "e" and an accent on
    another; an input method in full-width mode gives "ｃａｆｅ" for "cafe"."""
    assert COMPOSED != DECOMPOSED
    accounts.sign_up("ann@example.org", COMPOSED)
    accounts.verify("", _token(mailer, "verify"))
    accounts.sign_in("ann@example.org", DECOMPOSED)  # before: wrong email or password
    accounts.sign_in("ann@example.org", COMPOSED)
    tokens = accounts.sign_in("ann@example.org", DECOMPOSED)
    accounts.change_password(tokens.access_token, DECOMPOSED, "ｆｕｌｌ　ｗｉｄｔｈ ｐａｓｓ")
    accounts.sign_in("ann@example.org", "full width pass")
    accounts.forgot_password("ann@example.org")
    accounts.reset_password("", _token(mailer, "reset"), "e\u0301 and \u00a0no-break")
    accounts.sign_in("ann@example.org", "é and  no-break")
    with pytest.raises(Unauthorized):
        accounts.sign_in("ann@example.org", "e and  no-break")


def test_a_password_set_before_passwords_were_normalised_still_signs_in(
    accounts: Accounts, users: MemoryUsers, mailer: MemoryMailer
) -> None:
    """Its hash was made over the password as it was typed: that form is accepted too, and
    the hash made again over the normalised one, so that any keyboard signs in from then on."""
    _verified(accounts, mailer)
    user = users.find("ann@example.org")
    assert user is not None
    users.update(user.evolve(password_hash=PasswordHasher().hash(DECOMPOSED)), user)
    with pytest.raises(Unauthorized):
        accounts.sign_in("ann@example.org", COMPOSED)  # another keyboard: not yet
    accounts.sign_in("ann@example.org", DECOMPOSED)
    accounts.sign_in("ann@example.org", COMPOSED)  # the hash is the normalised form's now
    stored = users.find("ann@example.org")
    assert stored is not None and PasswordHasher().verify(stored.password_hash, COMPOSED)

    tokens = accounts.sign_in("ann@example.org", COMPOSED)
    users.update(stored.evolve(password_hash=PasswordHasher().hash(DECOMPOSED)), stored)
    accounts.change_password(tokens.access_token, DECOMPOSED, "a new password 2")
    accounts.sign_in("ann@example.org", "a new password 2")


def test_a_wrong_password_costs_as_many_hashes_whether_or_not_the_address_has_an_account(
    accounts: Accounts, mailer: MemoryMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password that normalising changes is checked in both its forms: for an address
    without an account too, or the second check would tell who has one."""
    _verified(accounts, mailer, "ann@example.org")
    checks: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            checks.append("verify")
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    for email in ("ann@example.org", "cyd@example.org"):
        with pytest.raises(Unauthorized):
            accounts.sign_in(email, DECOMPOSED)
    assert checks == ["verify"] * 4


def test_a_password_is_as_long_as_its_normalised_form() -> None:
    assert check_password("e\u0301" * 9 + "x") == "é" * 9 + "x"
    with pytest.raises(BadRequest):
        check_password("e\u0301" * 9)  # 18 code points, 9 characters
