"""What the AWS adapters share: one boto3 client per service and endpoint, made on first
use, and AWS errors turned into darkroom's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from darkroom.errors import (
    BadRequest,
    Conflict,
    DarkroomError,
    Forbidden,
    NotFound,
    TooLarge,
    Unavailable,
)

_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 4},
)
_clients: dict[tuple[str, str | None, str | None], Any] = {}
_lock = threading.Lock()

_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})
_CONFLICT = frozenset({"ConditionalCheckFailedException", "PreconditionFailed"})
_FORBIDDEN = frozenset({"AccessDenied", "403", "SignatureDoesNotMatch", "InvalidAccessKeyId"})
_TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "TransactionConflictException",
        # A missing bucket, table, queue or topic is a deployment problem, not the caller's.
        "NoSuchBucket",
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFoundException",
        "ExpiredToken",
    }
)


def client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A client made once per process: making one costs ~135 ms, and Lambda containers
    are reused. Creating clients from the default session is not thread-safe, hence the
    lock."""
    cache_key = (service, endpoint_url, region)
    with _lock:
        made = _clients.get(cache_key)
        if made is None:
            config = _CONFIG
            if service == "s3":
                # S3-compatible servers (MinIO, rclone) name buckets in the path.
                style: Literal["path", "auto"] = "path" if endpoint_url else "auto"
                config = config.merge(
                    Config(signature_version="s3v4", s3={"addressing_style": style})
                )
            made = boto3.session.Session().client(
                service,  # type: ignore[call-overload]
                endpoint_url=endpoint_url,
                region_name=region,
                config=config,
            )
            _clients[cache_key] = made
    return made


def translate(exc: ClientError | BotoCoreError, what: str) -> DarkroomError:
    """The darkroom error for an AWS failure, naming `what` was being done."""
    if isinstance(exc, BotoCoreError):
        return Unavailable(f"{what}: {exc}")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = f"{what}: {code} {error.get('Message', '')}".strip()
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT or status >= 500:
        return Unavailable(message)
    if code in _NOT_FOUND:
        return NotFound(message)
    if code == "TransactionCanceledException":
        reasons = {r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])}
        if reasons <= {"None", "ConditionalCheckFailed"}:
            return Conflict(message)
        return Unavailable(message)
    if code in _CONFLICT:
        return Conflict(message)
    if code in _FORBIDDEN:
        return Forbidden(message)
    if code in ("EntityTooLarge", "ItemCollectionSizeLimitExceededException"):
        return TooLarge(message)
    return BadRequest(message)


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from exc


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def url_options(url: str) -> dict[str, str]:
    """The query of a backend URL as single values: `s3://bucket?upload=put` → {upload: put}."""
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
