"""darkroom's own accounts (DARKROOM_AUTH=local): sign up, verify, sign in, refresh, sign out,
reset and change passwords. Passwords are hashed with argon2id; tokens are `TokenCodec`'s.

Nothing here tells a caller whether an email has an account: sign-up and password reset
answer the same either way, and the mail says what happened.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from darkroom.domain import Mail, Tokens, User
from darkroom.errors import BadRequest, Conflict, NotFound, Unauthorized
from darkroom.passwords import candidates, normalised
from darkroom.ports import Mailer, Users
from darkroom.tokens import TokenCodec

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}")
_WRONG = "wrong email or password"
_CHANGE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """Seconds each kind of token lives."""

    access: int = 900
    refresh: int = 30 * 86400
    verify: int = 2 * 86400
    reset: int = 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise BadRequest("that is not an email address")
    return email


def check_password(password: str) -> str:
    """The password normalised (`darkroom.passwords`), once its length is right."""
    password = normalised(password)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


class Accounts:
    """Implements `ports.Identity` with darkroom's own users table and mail."""

    def __init__(
        self,
        users: Users,
        mailer: Mailer,
        codec: TokenCodec,
        public_url: str,
        lifetimes: Lifetimes = Lifetimes(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._users = users
        self._mailer = mailer
        self._codec = codec
        self._page = public_url.rstrip("/") + "/"
        self._ttl = lifetimes
        self._now = clock
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash("a password nobody has")

    def sign_up(self, email: str, password: str) -> None:
        email, password = check_email(email), check_password(password)
        # Hashed whatever the address: skipping it for an account that exists answered
        # in a few milliseconds instead of a few hundred, telling who has an account.
        hashed = self._hasher.hash(password)
        existing = self._users.find(email)
        if existing is not None and existing.verified:
            self._mail(email, "Your darkroom account", _ALREADY.format(reset=self._page))
            return
        if existing is None:
            existing = User(uuid.uuid4().hex, email, hashed, self._now())
            self._users.add(existing)
        else:
            # Unverified: whoever proves the address now sets the password.
            existing = self._change(existing, lambda u: u.evolve(password_hash=hashed))
        # Bound to this password: should someone sign up again with the address before it is
        # confirmed, the older link stops working instead of confirming their password.
        token = self._codec.issue(
            "verify", existing.id, self._ttl.verify, pwd=_fingerprint(existing.password_hash)
        )
        self._mail(
            email, "Confirm your darkroom account", _VERIFY.format(link=self._link("verify", token))
        )
        log.info("user %s signed up", existing.id)

    def verify(self, email: str, code: str) -> None:
        claims = self._codec.read(code, "verify")
        user = self._user(claims["sub"])
        if claims.get("pwd") != _fingerprint(user.password_hash) and not user.verified:
            raise Unauthorized("this link is out of date: use the one in the latest mail")
        if not user.verified:
            self._change(user, lambda u: u.evolve(verified=True))
            log.info("user %s verified their address", user.id)

    def sign_in(self, email: str, password: str) -> Tokens:
        user = self._users.find(email.strip().lower())
        if user is None:
            # As many hashes as a wrong password of an account takes: fewer told who has one.
            self._matching(self._dummy, password)
            raise Unauthorized(_WRONG)
        matched = self._matching(user.password_hash, password)
        if matched is None:
            raise Unauthorized(_WRONG)
        if not user.verified:
            raise Unauthorized("confirm your email address first: follow the link in the mail")
        if matched != normalised(password) or self._hasher.check_needs_rehash(user.password_hash):
            # The same password, stored the current way (and normalised, where it was hashed
            # as typed before passwords were normalised), unless it changed meanwhile.
            old, new = user.password_hash, self._hasher.hash(normalised(password))
            user = self._change(
                user, lambda u: u.evolve(password_hash=new) if u.password_hash == old else u
            )
        return self._tokens(user)

    def refresh(self, refresh_token: str) -> Tokens:
        claims = self._codec.read(refresh_token, "refresh")
        return self._tokens(self._current(claims))

    def sign_out(self, access_token: str) -> None:
        user = self._current(self._codec.read(access_token, "access"))
        self._change(user, lambda u: u.evolve(session=u.session + 1))

    def forgot_password(self, email: str) -> None:
        email = check_email(email)
        user = self._users.find(email)
        if user is None:
            # A mail all the same: answering without one was quicker by the mail server's
            # round trip (and 202 where one with an account got 503 with the server away),
            # telling who has an account.
            self._mail(email, "Your darkroom password", _NO_ACCOUNT.format(page=self._page))
            return
        token = self._codec.issue(
            "reset", user.id, self._ttl.reset, pwd=_fingerprint(user.password_hash)
        )
        self._mail(
            user.email,
            "Reset your darkroom password",
            _RESET.format(link=self._link("reset", token)),
        )

    def reset_password(self, email: str, code: str, password: str) -> None:
        password = check_password(password)
        claims = self._codec.read(code, "reset")
        user = self._user(claims["sub"])
        if claims.get("pwd") != _fingerprint(user.password_hash):
            raise Unauthorized("this reset link has been used already or is out of date")
        self._set_password(user.evolve(verified=True), password)

    def change_password(self, access_token: str, old: str, new: str) -> None:
        new = check_password(new)
        user = self._current(self._codec.read(access_token, "access"))
        if self._matching(user.password_hash, old) is None:
            raise Unauthorized("the current password is wrong")
        self._set_password(user, new)

    def authenticate(self, access_token: str) -> str:
        return self._current(self._codec.read(access_token, "access")).id

    def owner_of(self, email: str) -> str:
        user = self._users.find(check_email(email))
        if user is None:
            raise NotFound(f"no account has the address {email!r}")
        return user.id

    def _set_password(self, user: User, password: str) -> None:
        """Every token issued before stops working: a new password signs out everywhere."""
        hashed = self._hasher.hash(password)
        self._change(user, lambda u: u.evolve(password_hash=hashed, session=u.session + 1))
        log.info("user %s set a new password", user.id)

    def _change(self, user: User, change: Callable[[User], User]) -> User:
        """`change` applied to the stored user as a compare-and-set: when another change
        got there first, it is applied again to what that one stored, so neither is lost."""
        for _ in range(_CHANGE_ATTEMPTS):
            changed = change(user)
            if changed == user:
                return user
            try:
                self._users.update(changed, user)
            except Conflict:
                user = self._users.get(user.id)
                continue
            return changed
        raise Conflict("the account is being changed by something else: try again")

    def _tokens(self, user: User) -> Tokens:
        ttl = self._ttl
        return Tokens(
            access_token=self._codec.issue("access", user.id, ttl.access, ses=user.session),
            refresh_token=self._codec.issue("refresh", user.id, ttl.refresh, ses=user.session),
            expires_in=ttl.access,
        )

    def _current(self, claims: dict[str, object]) -> User:
        user = self._user(str(claims["sub"]))
        if claims.get("ses") != user.session or not user.verified:
            raise Unauthorized("signed out: sign in again")
        return user

    def _user(self, user_id: str) -> User:
        try:
            return self._users.get(user_id)
        except NotFound:
            raise Unauthorized("the token is not valid") from None

    def _matching(self, hashed: str, password: str) -> str | None:
        """The form of `password` that `hashed` was made from (`passwords.candidates`)."""
        for form in candidates(password):
            try:
                self._hasher.verify(hashed, form)
            except (VerificationError, InvalidHashError):
                continue
            return form
        return None

    def _link(self, action: str, token: str) -> str:
        # In the fragment: browsers never send it, so it stays out of every server's log.
        return f"{self._page}#{action}={token}"

    def _mail(self, to: str, subject: str, body: str) -> None:
        self._mailer.send(Mail(to, subject, body))


def _fingerprint(password_hash: str) -> str:
    """Ties a link to the password it was sent for: a reset link then works once, and a
    verification link only confirms the password that was chosen with it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


_VERIFY = """Hello,

to confirm this address for your darkroom account, open this link:

{link}

It works for two days. If you did not sign up, ignore this mail.
"""
_ALREADY = """Hello,

someone tried to sign up for darkroom with this address, which already has an account.
If it was you and you forgot your password, reset it from the sign-in form at {reset}
"""
_NO_ACCOUNT = """Hello,

someone asked to reset the darkroom password of this address, which has no account. If it
was you, your account may be under another address, or you can sign up at {page}

If you did not ask for it, ignore this mail.
"""
_RESET = """Hello,

to choose a new darkroom password, open this link:

{link}

It works for one hour, once. If you did not ask for it, ignore this mail: your password
has not changed.
"""
