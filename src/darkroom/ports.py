"""The ports: what the services need from the world, as small Protocols.

Every adapter implements one of these, inherits nothing, and is checked by the
contract suite in `tests/contract/`, the memory adapters included.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from darkroom.domain import (
    LIVE_JOBS,
    BlobInfo,
    Claim,
    DeadLetter,
    Job,
    JobState,
    Mail,
    Page,
    Photo,
    Run,
    Share,
    SignedRequest,
    Tokens,
    User,
    VariantSpec,
)

if TYPE_CHECKING:  # the imaging package imports NumPy, Pillow and pyvips
    from darkroom.imaging import Developed, Limits, Watermark


class Developer(Protocol):
    """Renders one original: `darkroom.imaging.develop`, in this process or another."""

    def __call__(
        self,
        data: bytes,
        specs: Sequence[VariantSpec],
        limits: Limits,
        include_gps: bool,
        watermark: Watermark | None,
    ) -> Developed: ...


class BlobStore(Protocol):
    """A flat namespace of immutable objects (a directory, a bucket)."""

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> BlobInfo:
        """Store atomically: readers see the old object or the new one, never a part.

        Raises `BadRequest` for a key that is empty, absolute or escapes the store.
        """
        ...

    def get(self, key: str) -> bytes:
        """Raises `NotFound`."""
        ...

    def head(self, key: str) -> BlobInfo | None: ...

    def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key is not an error."""
        ...

    def list(self, prefix: str = "", after: str = "", limit: int = 1000) -> list[BlobInfo]:
        """Keys in lexical order, strictly after `after`."""
        ...

    def presign_get(
        self,
        key: str,
        expires_in: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> SignedRequest:
        """A URL that reads this key until it expires; no request to the store is made.

        The object is served as `content_type` when given, whatever type it was stored as.
        """
        ...

    def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> SignedRequest:
        """A request that may store at most `max_bytes` of `content_type` under `key`."""
        ...


@runtime_checkable
class Leftovers(Protocol):
    """A store whose writes, cut short by a crash, can leave temporary files behind (a
    directory; a bucket's unfinished multipart uploads are for its lifecycle rules)."""

    def leftovers(self, before: datetime) -> list[str]:
        """Temporary files last written before `before`, as names for `remove_leftover`."""
        ...

    def remove_leftover(self, name: str) -> None:
        """Idempotent; refuses a name that is not a temporary file of this store."""
        ...


class Catalog(Protocol):
    """Photo records. Writes are conditional on `version` (optimistic concurrency)."""

    def add(self, photo: Photo) -> None:
        """Raises `Conflict` if the id or the original's key is already taken."""
        ...

    def get(self, photo_id: str) -> Photo:
        """Raises `NotFound`."""
        ...

    def get_by_key(self, key: str) -> Photo:
        """The photo whose original is stored under `key`. Raises `NotFound`."""
        ...

    def get_many(self, photo_ids: Collection[str]) -> dict[str, Photo]:
        """The photos of these ids that exist, by id, read together (one query, or one
        batch read a hundred at a time): what a page following many uploads asks for on
        each round, and `doctor` for a page of keys. Unknown ids are left out, never an
        error."""
        ...

    def find_by_hash(self, owner: str, sha256: str) -> list[Photo]:
        """The owner's photos whose original has this digest, oldest first, whatever their
        status: duplicates too, which keep the digest of the bytes they share."""
        ...

    def claim_bytes(self, owner: str, sha256: str, photo_id: str, *, replacing: str = "") -> str:
        """Make `photo_id` the photo that keeps the owner's bytes of this digest, unless
        another photo already does (or it is `replacing`, whose claim passes on): the id of
        the photo that keeps them after the call. Of photos claiming at once, exactly one
        wins, whatever an index of digests shows yet. Deleting the photo releases its claim."""
        ...

    def every_with_claims(self) -> Iterator[Photo | Claim]:
        """`every`'s photos and everyone's claims on bytes, in one pass (for `doctor`: on
        DynamoDB one scan of the table reads both). A claim can outlive its photo, made
        after the photo's deletion began or, on DynamoDB, on bytes the photo's original no
        longer had."""
        ...

    def release(self, claim: Claim) -> None:
        """Removes the claim if it still names `claim.photo_id`; idempotent."""
        ...

    def list(self, owner: str, limit: int, cursor: str | None = None) -> Page[Photo]:
        """The owner's photos, newest first (by `created_at`, then id)."""
        ...

    def every(self) -> Iterator[Photo]:
        """Everyone's photos in no particular order, read a page at a time: one pass over
        the catalog in all, whatever its size (for `doctor` and `reprocess`). A photo there
        from start to end comes exactly once; one added or deleted meanwhile may or may not."""
        ...

    def count_by_status(self) -> dict[str, int]:
        """How many photos each status has, everyone's; statuses no photo has are left out.
        Counted by the backend, never by reading every record here."""
        ...

    def update(self, photo: Photo) -> Photo:
        """Store `photo` if the stored version still equals `photo.version`.

        Returns the photo with its new version. Raises `NotFound` if it was deleted,
        `Conflict` if someone else wrote it first.
        """
        ...

    def delete(self, photo_id: str) -> None:
        """Idempotent."""
        ...


class JobQueue(Protocol):
    """Durable processing jobs, delivered at least once."""

    def enqueue(self, job: Job) -> None: ...

    def claim(self, worker: str, lease_seconds: float) -> Job | None:
        """Take the next due job for `lease_seconds`; after that another worker may take it.

        Counts an attempt. None when nothing is due.
        """
        ...

    def complete(self, job_id: str) -> None: ...

    def fail(self, job_id: str, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: due again at `retry_at`, or dead when it is None."""
        ...

    def get(self, job_id: str) -> Job:
        """One job, whatever its state, read by its id alone. Raises `NotFound`."""
        ...

    def jobs(
        self, states: frozenset[JobState], limit: int = 100, after: Job | None = None
    ) -> list[Job]:
        """Jobs in these states, oldest first (by `created_at`, then id); with `after`, those
        that come after it: the next page, however the jobs before it changed since."""
        ...

    def with_jobs(
        self, photo_ids: Collection[str], kind: str, states: frozenset[JobState] = LIVE_JOBS
    ) -> set[str]:
        """Those of `photo_ids` that a job of `kind` in `states` (queued or running) is for,
        found by photo id: never by reading every job (a `reprocess` of a large library
        queues one per photo)."""
        ...

    def count(self, states: frozenset[JobState]) -> dict[JobState, int]:
        """How many jobs each of `states` has (0 for none), counted by the backend: never by
        reading every job (a `reprocess` of a large library queues one per photo)."""
        ...

    def count_due(self, now: datetime) -> int:
        """How many queued jobs are due by `now` (what a worker would run before it found
        nothing to claim), counted by the backend like `count`."""
        ...

    def retry(self, job_id: str, run_at: datetime) -> Job:
        """Make a dead (or waiting) job due again with a fresh attempt count.

        Raises `NotFound`.
        """
        ...


@runtime_checkable
class DeliveredQueue(Protocol):
    """A queue whose broker hands its messages to consumers of its own (SQS to the
    processing function): a command that queues jobs leaves them to those. Polling the
    queue too, it would take messages that are not its own (S3 events, other uploads'
    jobs) and race the consumers for its own."""

    delivers_jobs: bool


@runtime_checkable
class DeadLetters(Protocol):
    """A queue whose broker keeps what it gave up on apart (SQS's dead-letter queue)."""

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def redrive(self, letter_ids: Collection[str] | None = None) -> list[DeadLetter]:
        """Send these letters (or all) back to be handled again; the ones moved."""
        ...


class Transactions(Protocol):
    """Groups writes to the catalog and the job queue so they land together or not at all."""

    def atomic(self) -> AbstractContextManager[None]: ...


class Notifier(Protocol):
    def photo_processed(self, photo: Photo) -> None:
        """Tell whoever listens that `photo` is ready or failed. Raises `Unavailable` when
        the message could not be delivered; `services.notifications.Notifications` retries
        it and logs what it gives up, so that processing never fails for it."""
        ...


class Meter(Protocol):
    def record(self, run: Run) -> None:
        """Take note of one processing run (Prometheus, CloudWatch, the run log)."""
        ...


class RunLog(Protocol):
    """Processing runs kept for `darkroom stats` and the admin page."""

    def record(self, run: Run) -> None: ...

    def since(self, moment: datetime) -> list[Run]:
        """Runs that finished at `moment` or later, oldest first."""
        ...


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Hand `mail` to the mail server. Raises `Unavailable` when it cannot take it."""
        ...


class Users(Protocol):
    """Accounts of darkroom's own sign-in. Emails are stored and matched in lower case."""

    def add(self, user: User) -> None:
        """Raises `Conflict` if the id or the email is taken."""
        ...

    def get(self, user_id: str) -> User:
        """Raises `NotFound`."""
        ...

    def find(self, email: str) -> User | None: ...

    def update(self, user: User, expected: User) -> None:
        """Replace the stored user with the same id by `user`, if it is still `expected` (as
        read before): two changes made at once must not undo each other (a sign-out must
        not bring back the password a concurrent change replaced). Raises `Conflict` if it
        changed meanwhile, `NotFound` if it is gone."""
        ...


class Shares(Protocol):
    """Share links of photos. A share's id is its secret: it is never listed to others."""

    def add(self, share: Share) -> None: ...

    def get(self, share_id: str) -> Share:
        """Raises `NotFound`."""
        ...

    def of_photo(self, photo_id: str) -> list[Share]:
        """Oldest first."""
        ...

    def delete(self, share_id: str) -> None:
        """Idempotent."""
        ...


class Identity(Protocol):
    """Who callers are: darkroom's own accounts, or a Cognito user pool.

    Every method raises `Unauthorized` for wrong or expired credentials and `BadRequest`
    for input it refuses (a weak password, a malformed email).
    """

    def sign_up(self, email: str, password: str) -> None:
        """Create an unverified account and send its verification. Says nothing about an
        email already taken (no account enumeration)."""
        ...

    def verify(self, email: str, code: str) -> None:
        """Confirm the address with the code (or link token) that was sent."""
        ...

    def sign_in(self, email: str, password: str) -> Tokens: ...

    def refresh(self, refresh_token: str) -> Tokens: ...

    def sign_out(self, access_token: str) -> None:
        """Revoke every token of the caller's account."""
        ...

    def forgot_password(self, email: str) -> None:
        """Send a reset code or link if the account exists; silent otherwise."""
        ...

    def reset_password(self, email: str, code: str, password: str) -> None: ...

    def change_password(self, access_token: str, old: str, new: str) -> None: ...

    def authenticate(self, access_token: str) -> str:
        """The owner id the token belongs to."""
        ...

    def owner_of(self, email: str) -> str:
        """The owner id of the account with this address, for the operator's own tools
        (`darkroom import --owner`). Raises `NotFound`."""
        ...


def iterate_blobs(store: BlobStore, prefix: str = "") -> Iterator[BlobInfo]:
    """Every object under `prefix`, a page at a time."""
    after = ""
    while True:
        page = store.list(prefix, after=after)
        yield from page
        if not page:
            return
        after = page[-1].key
