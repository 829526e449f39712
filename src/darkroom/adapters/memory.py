"""Every port kept in dicts: the unit tests' fakes, held to the same contract suite as the
real adapters so they cannot drift from them."""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, TypeVar

from darkroom.domain import (
    LIVE_JOBS,
    BlobInfo,
    Claim,
    Job,
    JobState,
    Mail,
    Page,
    Photo,
    Run,
    Share,
    SignedRequest,
    User,
)
from darkroom.errors import Conflict, NotFound
from darkroom.keys import check_key
from darkroom.signing import UrlSigner, presigned_get, presigned_put


class MemoryBlobStore:
    def __init__(self, name: str, signer: UrlSigner) -> None:
        self.name = name
        self._signer = signer
        self._objects: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> BlobInfo:
        check_key(key)
        body = data if isinstance(data, bytes) else data.read()
        with self._lock:
            self._objects[key] = (body, content_type)
        return _info(key, body, content_type)

    def get(self, key: str) -> bytes:
        check_key(key)
        try:
            return self._objects[key][0]
        except KeyError:
            raise NotFound(f"no object {key!r}") from None

    def head(self, key: str) -> BlobInfo | None:
        check_key(key)
        found = self._objects.get(key)
        return _info(key, *found) if found else None

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def list(self, prefix: str = "", after: str = "", limit: int = 1000) -> builtins.list[BlobInfo]:
        keys = sorted(k for k in self._objects if k.startswith(prefix) and k > after)[:limit]
        return [_info(k, *self._objects[k]) for k in keys]

    def presign_get(
        self,
        key: str,
        expires_in: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> SignedRequest:
        check_key(key)
        return presigned_get(self._signer, self.name, key, expires_in, download_name, content_type)

    def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> SignedRequest:
        check_key(key)
        return presigned_put(self._signer, self.name, key, content_type, max_bytes, expires_in)


def _info(key: str, body: bytes, content_type: str) -> BlobInfo:
    return BlobInfo(
        key, len(body), content_type, hashlib.md5(body, usedforsecurity=False).hexdigest()
    )


class MemoryCatalog:
    def __init__(self) -> None:
        self._photos: dict[str, Photo] = {}
        self._keepers: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def add(self, photo: Photo) -> None:
        with self._lock:
            if photo.id in self._photos or any(p.key == photo.key for p in self._photos.values()):
                raise Conflict(f"photo {photo.id} already exists")
            _remember(self._photos, photo.id)
            self._photos[photo.id] = photo

    def get(self, photo_id: str) -> Photo:
        try:
            return self._photos[photo_id]
        except KeyError:
            raise NotFound(f"no photo {photo_id!r}") from None

    def get_many(self, photo_ids: Collection[str]) -> dict[str, Photo]:
        return {i: self._photos[i] for i in photo_ids if i in self._photos}

    def get_by_key(self, key: str) -> Photo:
        for photo in self._photos.values():
            if photo.key == key:
                return photo
        raise NotFound(f"no photo stored under {key!r}")

    def find_by_hash(self, owner: str, sha256: str) -> list[Photo]:
        found = [p for p in self._photos.values() if p.owner == owner and p.sha256 == sha256]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    def claim_bytes(self, owner: str, sha256: str, photo_id: str, *, replacing: str = "") -> str:
        with self._lock:
            keeper = self._keepers.get((owner, sha256))
            if keeper is None or keeper == replacing:
                self._keepers[owner, sha256] = keeper = photo_id
            return keeper

    def every_with_claims(self) -> Iterator[Photo | Claim]:
        yield from self.every()
        with self._lock:
            held = list(self._keepers.items())
        yield from (Claim(owner, sha256, keeper) for (owner, sha256), keeper in held)

    def release(self, claim: Claim) -> None:
        with self._lock:
            if self._keepers.get((claim.owner, claim.sha256)) == claim.photo_id:
                del self._keepers[claim.owner, claim.sha256]

    def every(self) -> Iterator[Photo]:
        yield from list(self._photos.values())

    def list(self, owner: str, limit: int, cursor: str | None = None) -> Page[Photo]:
        ordered = sorted(
            (p for p in self._photos.values() if p.owner == owner),
            key=lambda p: (p.created_at, p.id),
            reverse=True,
        )
        if cursor:
            ordered = [p for p in ordered if _position(p) < cursor]
        items = tuple(ordered[:limit])
        more = len(ordered) > limit
        return Page(items, _position(items[-1]) if more and items else None)

    def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for photo in list(self._photos.values()):
            counts[photo.status.value] = counts.get(photo.status.value, 0) + 1
        return counts

    def update(self, photo: Photo) -> Photo:
        with self._lock:
            stored = self.get(photo.id)
            if stored.version != photo.version:
                raise Conflict(f"photo {photo.id} changed (version {stored.version})")
            updated = photo.evolve(version=photo.version + 1)
            _remember(self._photos, photo.id)
            self._photos[photo.id] = updated
            return updated

    def delete(self, photo_id: str) -> None:
        with self._lock:
            _remember(self._photos, photo_id)
            self._photos.pop(photo_id, None)
            for held, keeper in list(self._keepers.items()):
                if keeper == photo_id:
                    del self._keepers[held]


def _position(photo: Photo) -> str:
    return f"{photo.created_at.astimezone(UTC).isoformat()}|{photo.id}"


class MemoryJobQueue:
    def __init__(self, wakeup: threading.Event | None = None) -> None:
        self._wakeup = wakeup
        self._jobs: dict[str, Job] = {}
        self._leases: dict[str, float] = {}
        self._lock = threading.Lock()

    def enqueue(self, job: Job) -> None:
        with self._lock:
            _remember(self._jobs, job.id)
            self._jobs[job.id] = job
        if self._wakeup is not None:
            _after_commit(self._wakeup.set)

    def claim(self, worker: str, lease_seconds: float) -> Job | None:
        now = datetime.now(UTC)
        with self._lock:
            for job in sorted(self._jobs.values(), key=lambda j: (j.run_at, j.id)):
                due = job.state is JobState.QUEUED and job.run_at <= now
                lapsed = job.state is JobState.RUNNING and self._leases[job.id] < time.monotonic()
                if due or lapsed:
                    claimed = _with(job, state=JobState.RUNNING, attempts=job.attempts + 1)
                    _remember(self._jobs, job.id)
                    _remember(self._leases, job.id)
                    self._jobs[job.id] = claimed
                    self._leases[job.id] = time.monotonic() + lease_seconds
                    return claimed
        return None

    def complete(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                _remember(self._jobs, job_id)
                self._jobs[job_id] = _with(job, state=JobState.DONE)

    def fail(self, job_id: str, error: str, retry_at: datetime | None) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            _remember(self._jobs, job_id)
            if retry_at is None:
                self._jobs[job_id] = _with(job, state=JobState.DEAD, last_error=error)
            else:
                self._jobs[job_id] = _with(
                    job, state=JobState.QUEUED, last_error=error, run_at=retry_at
                )

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job

    def jobs(
        self, states: frozenset[JobState], limit: int = 100, after: Job | None = None
    ) -> builtins.list[Job]:
        start = (after.created_at, after.id) if after is not None else None
        found = sorted(
            (
                j
                for j in list(self._jobs.values())
                if j.state in states and (start is None or (j.created_at, j.id) > start)
            ),
            key=lambda j: (j.created_at, j.id),
        )
        return found[:limit]

    def with_jobs(
        self, photo_ids: Collection[str], kind: str, states: frozenset[JobState] = LIVE_JOBS
    ) -> set[str]:
        return {
            j.photo_id
            for j in list(self._jobs.values())
            if j.photo_id in photo_ids and j.state in states and j.kind == kind
        }

    def count(self, states: frozenset[JobState]) -> dict[JobState, int]:
        found = [j.state for j in list(self._jobs.values())]
        return {state: found.count(state) for state in states}

    def count_due(self, now: datetime) -> int:
        return sum(
            j.state is JobState.QUEUED and j.run_at <= now for j in list(self._jobs.values())
        )

    def retry(self, job_id: str, run_at: datetime) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}")
            again = _with(job, state=JobState.QUEUED, attempts=0, run_at=run_at)
            _remember(self._jobs, job_id)
            self._jobs[job_id] = again
            return again


def _with(job: Job, **changes: object) -> Job:
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


@dataclass
class _Group:
    undo: builtins.list[Callable[[], None]] = field(default_factory=builtins.list)
    after_commit: builtins.list[Callable[[], None]] = field(default_factory=builtins.list)


_GROUP: ContextVar[_Group | None] = ContextVar("darkroom_memory_group", default=None)
V = TypeVar("V")


def _remember(mapping: dict[str, V], key: str) -> None:
    """Inside atomic(), note how to put `mapping[key]` back should the group fail."""
    group = _GROUP.get()
    if group is None:
        return
    if key in mapping:
        old = mapping[key]

        def undo() -> None:
            mapping[key] = old
    else:

        def undo() -> None:
            mapping.pop(key, None)

    group.undo.append(undo)


def _after_commit(callback: Callable[[], None]) -> None:
    group = _GROUP.get()
    if group is None:
        callback()
    else:
        group.after_commit.append(callback)


class MemoryTransactions:
    """Memory writes are immediate; a failed group is undone write by write, newest first,
    like the SQL adapters' rollback. Nested groups join the outer one."""

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if _GROUP.get() is not None:
            yield
            return
        group = _Group()
        token = _GROUP.set(group)
        try:
            yield
        except BaseException:
            for undo in reversed(group.undo):
                undo()
            raise
        finally:
            _GROUP.reset(token)
        for callback in group.after_commit:
            callback()


class MemoryNotifier:
    def __init__(self) -> None:
        self.sent: builtins.list[Photo] = []

    def photo_processed(self, photo: Photo) -> None:
        self.sent.append(photo)


class MemoryRunLog:
    """The latest `keep` runs: a long-lived process must not grow without end."""

    def __init__(self, keep: int = 100_000) -> None:
        self._runs: deque[Run] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, run: Run) -> None:
        with self._lock:
            self._runs.append(run)

    def since(self, moment: datetime) -> builtins.list[Run]:
        with self._lock:
            return sorted((r for r in self._runs if r.finished_at >= moment), key=_finished)


def _finished(run: Run) -> datetime:
    return run.finished_at


class MemoryMailer:
    def __init__(self) -> None:
        self.sent: builtins.list[Mail] = []

    def send(self, mail: Mail) -> None:
        self.sent.append(mail)


class MemoryUsers:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._lock = threading.Lock()

    def add(self, user: User) -> None:
        with self._lock:
            if user.id in self._users or self.find(user.email) is not None:
                raise Conflict(f"user {user.id} or that email already exists")
            self._users[user.id] = user.evolve(email=user.email.lower())

    def get(self, user_id: str) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFound(f"no user {user_id!r}") from None

    def find(self, email: str) -> User | None:
        email = email.lower()
        return next((u for u in self._users.values() if u.email == email), None)

    def update(self, user: User, expected: User) -> None:
        with self._lock:
            if self.get(user.id) != expected.evolve(email=expected.email.lower()):
                raise Conflict(f"user {user.id} changed meanwhile")
            self._users[user.id] = user.evolve(email=user.email.lower())


class MemoryShares:
    def __init__(self) -> None:
        self._shares: dict[str, Share] = {}

    def add(self, share: Share) -> None:
        if share.id in self._shares:
            raise Conflict(f"share {share.id} already exists")
        self._shares[share.id] = share

    def get(self, share_id: str) -> Share:
        try:
            return self._shares[share_id]
        except KeyError:
            raise NotFound("no such share") from None

    def of_photo(self, photo_id: str) -> builtins.list[Share]:
        found = (s for s in self._shares.values() if s.photo_id == photo_id)
        return sorted(found, key=lambda s: (s.created_at, s.id))

    def delete(self, share_id: str) -> None:
        self._shares.pop(share_id, None)
