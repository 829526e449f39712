"""Raw Lambda events (S3 notifications, direct or through SQS or SNS, and darkroom's own job
messages) turned into plain values. No AWS client, no I/O.

The traps handled here: keys are URL-encoded (`+` for a space), the first message of a
new notification is an `s3:TestEvent`, and records may lack `sequencer`, `userIdentity`
or `requestParameters` (moto, and some S3-compatible servers, leave them out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus


class MalformedEvent(ValueError):
    """Not an event darkroom understands; retrying it cannot help."""


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    kind: Literal["created", "removed"]
    bucket: str
    key: str
    size: int = 0
    etag: str = ""
    sequencer: str = ""


@dataclass(frozen=True, slots=True)
class JobMessage:
    job_id: str
    photo_id: str
    correlation_id: str = ""
    kind: str = "process"


Message = ObjectEvent | JobMessage


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    """One SQS record and what it carries (nothing, for a test event)."""

    message_id: str
    receive_count: int
    messages: tuple[Message, ...]


def is_sqs_batch(event: Mapping[str, Any]) -> bool:
    records = event.get("Records") or []
    return bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)


def sqs_batch(event: Mapping[str, Any]) -> list[QueuedRecord | MalformedEvent]:
    """Each record of an SQS batch, or why it cannot be read (one bad record must not stop
    the others)."""
    found: list[QueuedRecord | MalformedEvent] = []
    for record in event.get("Records", []):
        try:
            attributes = record.get("attributes", {})
            found.append(
                QueuedRecord(
                    str(record["messageId"]),
                    int(attributes.get("ApproximateReceiveCount", "1")) + _earlier_receives(record),
                    messages(record.get("body", "")),
                )
            )
        except MalformedEvent as exc:
            found.append(MalformedEvent(f"message {record.get('messageId')}: {exc}"))
        except (KeyError, TypeError, ValueError) as exc:
            found.append(MalformedEvent(f"unreadable SQS record: {exc!r}"))
    return found


def _earlier_receives(record: Mapping[str, Any]) -> int:
    """The receives of the message a worker polling the queue passed on as this copy (the
    `darkroom_earlier_receives` attribute of `darkroom.adapters.sqs`)."""
    carried = (record.get("messageAttributes") or {}).get("darkroom_earlier_receives") or {}
    try:
        return max(0, int(carried.get("stringValue", 0)))
    except (TypeError, ValueError):
        return 0


def messages(body: str) -> tuple[Message, ...]:
    """What one queue message says: S3 records, an S3 test event, or a darkroom job."""
    try:
        parsed = json.loads(body)
    except ValueError:
        raise MalformedEvent("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise MalformedEvent("the body is not a JSON object")
    if parsed.get("Type") == "Notification" and isinstance(parsed.get("Message"), str):
        return messages(parsed["Message"])  # S3 → SNS → SQS
    if isinstance(parsed.get("requestPayload"), dict):
        # A Lambda on-failure destination's record: an event the cleanup function gave up
        # on, left in the dead-letter queue, and sent back from there to be carried out.
        parsed = parsed["requestPayload"]
    if parsed.get("Event") == "s3:TestEvent":
        return ()
    if "Records" in parsed:
        return tuple(s3_records(parsed))
    job_id, photo_id = parsed.get("darkroom_job"), parsed.get("photo_id")
    if isinstance(job_id, str) and isinstance(photo_id, str) and job_id and photo_id:
        correlation_id = str(parsed.get("correlation_id") or "")
        kind = str(parsed.get("kind") or "process")
        return (JobMessage(job_id, photo_id, correlation_id, kind),)
    raise MalformedEvent(f"unknown message with fields {sorted(parsed)[:8]}")


def s3_records(event: Mapping[str, Any]) -> list[ObjectEvent]:
    """The object events of an S3 notification; other kinds (restore, tagging) are left out."""
    found = []
    for record in event.get("Records", []):
        if record.get("eventSource") != "aws:s3":
            continue
        name = str(record.get("eventName", ""))
        kind: Literal["created", "removed"]
        if name.startswith("ObjectCreated:"):
            kind = "created"
        elif name.startswith("ObjectRemoved:"):
            kind = "removed"
        else:
            continue
        try:
            s3 = record["s3"]
            bucket = str(s3["bucket"]["name"])
            obj = s3["object"]
            key = unquote_plus(str(obj["key"]))
        except (KeyError, TypeError):
            raise MalformedEvent("an S3 record without bucket or key") from None
        found.append(
            ObjectEvent(
                kind,
                bucket,
                key,
                int(obj.get("size", 0) or 0),
                str(obj.get("eTag", "")),
                str(obj.get("sequencer", "")),
            )
        )
    return found


def is_s3_event(event: Mapping[str, Any]) -> bool:
    records = event.get("Records") or []
    return bool(records) and all(r.get("eventSource") == "aws:s3" for r in records)
