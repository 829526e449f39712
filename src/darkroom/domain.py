"""The values darkroom works with. Plain data: no I/O, no framework."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar

OutputFormat = Literal["auto", "jpeg", "png", "webp", "avif"]
MetadataValue = str | int | float
T = TypeVar("T")


class PhotoStatus(StrEnum):
    UPLOADING = "uploading"
    """A presigned upload was handed out; the bytes have not been confirmed yet."""
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    """Same bytes as another photo of the same owner; `duplicate_of` names it."""


PROCESS = "process"
"""The kind of a job that processes its photo."""
NOTIFY = "notify:"
"""Kinds `notify:TARGET`: deliver the photo's result to one notification target again."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


LIVE_JOBS = frozenset({JobState.QUEUED, JobState.RUNNING})
"""The states of a job that is still to finish."""


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One rendition to make of every photo: fit within `width`×`height`, never upscale.

    A missing height means "this wide"; a missing width means "this tall".
    """

    name: str
    width: int | None
    height: int | None = None
    format: OutputFormat = "auto"
    quality: int = 85

    def __post_init__(self) -> None:
        if self.width is None and self.height is None:
            raise ValueError(f"variant {self.name!r} needs a width or a height")
        for side in (self.width, self.height):
            if side is not None and not 1 <= side <= 16384:
                raise ValueError(f"variant {self.name!r}: sides must be within 1..16384")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"variant {self.name!r}: quality must be within 1..100")


DEFAULT_VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec("thumb", 100, 100),
    VariantSpec("w150", 150),
    VariantSpec("w320", 320),
    VariantSpec("w640", 640),
    VariantSpec("w1024", 1024),
    VariantSpec("display", 800, 600),
)


def recipe_of(specs: tuple[VariantSpec, ...], engine: str, extra: str = "") -> str:
    """Changes when the variants would come out different: other specs, another engine, or
    anything else that changes pixels (`extra`, e.g. the watermark)."""
    parts = [engine, extra] + [
        f"{s.name}:{s.width}x{s.height}:{s.format}:{s.quality}" for s in specs
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    key: str
    width: int
    height: int
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Photo:
    id: str
    owner: str
    key: str
    """Key of the original in the originals store."""
    filename: str
    """The name the uploader gave; display data only, never a storage path."""
    created_at: datetime
    updated_at: datetime
    description: str = ""
    status: PhotoStatus = PhotoStatus.PENDING
    reason: str = ""
    content_type: str = ""
    size: int = 0
    sha256: str = ""
    """Digest of the original; once `ready`, the bytes the variants were made from."""
    width: int = 0
    height: int = 0
    variants: tuple[Variant, ...] = ()
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    duplicate_of: str = ""
    recipe: str = ""
    """Fingerprint of the variant settings the variants were made with (see `recipe_of`)."""
    blurhash: str = ""
    """A blurred preview for the gallery to paint while the variants load (blurha.sh)."""
    version: int = 1

    def evolve(self, **changes: object) -> Photo:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


@dataclass(frozen=True, slots=True)
class Claim:
    """A photo named as the one that keeps its owner's bytes of a digest."""

    owner: str
    sha256: str
    photo_id: str


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    photo_id: str
    created_at: datetime
    run_at: datetime
    state: JobState = JobState.QUEUED
    attempts: int = 0
    last_error: str = ""
    correlation_id: str = ""
    """Of the request that queued it; the worker's log lines and notifications carry it."""
    kind: str = PROCESS
    """`process`, or `notify:TARGET`."""


@dataclass(frozen=True, slots=True)
class Run:
    """One processing of one photo: how it ended and how long each stage took."""

    photo_id: str
    finished_at: datetime
    outcome: str
    """ready, failed, duplicate, or error (trouble that will be retried)."""
    seconds: float
    stages: Mapping[str, float] = field(default_factory=dict)
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the queue's broker gave up on (SQS moved it to the dead-letter queue)."""

    id: str
    subject: str
    """What it was about: `job JOB of photo PHOTO`, or the original's key of an S3 event."""
    photo_id: str = ""
    key: str = ""
    receives: int = 0


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    cursor: str | None
    """Opaque; pass it back to get the next page. None on the last page."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a client needs to send one HTTP request that the store will accept."""

    url: str
    method: Literal["GET", "PUT", "POST"]
    headers: Mapping[str, str]
    fields: Mapping[str, str]
    """Form fields for a POST policy upload; empty otherwise."""
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str
    """Plain text."""


@dataclass(frozen=True, slots=True)
class User:
    """Someone who signs in with darkroom's own accounts (DARKROOM_AUTH=local)."""

    id: str
    email: str
    """Lower case; unique."""
    password_hash: str
    created_at: datetime
    verified: bool = False
    session: int = 0
    """Raised on sign-out and password changes: tokens issued before stop working."""

    def evolve(self, **changes: object) -> User:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a successful sign-in gives: a short-lived access token and a refresh token."""

    access_token: str
    refresh_token: str
    expires_in: int
    """Seconds the access token lives."""


@dataclass(frozen=True, slots=True)
class Share:
    """A link that shows one photo to whoever has it, until it expires or is revoked."""

    id: str
    photo_id: str
    owner: str
    created_at: datetime
    expires_at: datetime
