"""Raw Lambda events (S3 notifications, direct or through SQS or SNS, S3 events through
EventBridge, and darkroom's own job messages) turned into plain values. No AWS client, no
I/O. Nothing here raises for what an event holds: what cannot be read is a
`MalformedEvent` in its place, for the caller to log, and the rest is read all the same.

The traps handled here: notification keys are URL-encoded (`+` for a space; EventBridge's
are not), the first message of a new notification is an `s3:TestEvent`, and records may
lack `sequencer`, `userIdentity` or `requestParameters` (moto, and some S3-compatible
servers, leave them out).
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
Read = Message | MalformedEvent
"""A message, or why one could not be read."""
_EVENTBRIDGE_KINDS: dict[str, Literal["created", "removed"]] = {
    "Object Created": "created",
    "Object Deleted": "removed",
}


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    """One SQS record and what it carries (nothing, for a test event)."""

    message_id: str
    receive_count: int
    messages: tuple[Read, ...]


def _records(event: object, source_field: str, source: str) -> list[Mapping[str, Any]]:
    """The event's records, if it has some and each comes from `source`; else none."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not records or not isinstance(records, list):
        return []
    if all(isinstance(r, Mapping) and r.get(source_field) == source for r in records):
        return records
    return []


def is_sqs_batch(event: object) -> bool:
    return bool(_records(event, "eventSource", "aws:sqs"))


def sqs_batch(event: Mapping[str, Any]) -> list[QueuedRecord | MalformedEvent]:
    """Each record of an SQS batch, or why it cannot be read (one bad record must not stop
    the others)."""
    found: list[QueuedRecord | MalformedEvent] = []
    for record in _records(event, "eventSource", "aws:sqs"):
        try:
            attributes = record.get("attributes") or {}
            found.append(
                QueuedRecord(
                    str(record["messageId"]),
                    int(attributes.get("ApproximateReceiveCount", "1")) + _earlier_receives(record),
                    messages(str(record.get("body", ""))),
                )
            )
        except MalformedEvent as exc:
            found.append(MalformedEvent(f"message {record.get('messageId')}: {exc}"))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            found.append(MalformedEvent(f"unreadable SQS record: {exc!r}"))
    return found


def direct(event: object) -> list[Read]:
    """What an event that invoked a function itself carries: S3 notifications, SNS messages
    (each one as a queue message would be read) or an EventBridge event."""
    if records := _records(event, "eventSource", "aws:s3"):
        return s3_records({"Records": records})
    if records := _records(event, "EventSource", "aws:sns"):
        found: list[Read] = []
        for record in records:
            sns = record.get("Sns")
            try:
                if not isinstance(sns, Mapping):
                    raise MalformedEvent("an SNS record without its message")
                found.extend(messages(str(sns.get("Message", ""))))
            except MalformedEvent as exc:
                found.append(
                    MalformedEvent(f"SNS message {record.get('EventSubscriptionArn')}: {exc}")
                )
        return found
    if isinstance(event, Mapping) and event.get("source") == "aws.s3" and "detail" in event:
        return [_eventbridge(event)]
    fields = sorted(map(str, event))[:8] if isinstance(event, Mapping) else type(event).__name__
    return [MalformedEvent(f"not an SQS, S3, SNS or EventBridge event (fields {fields})")]


def _earlier_receives(record: Mapping[str, Any]) -> int:
    """The receives of the message a worker polling the queue passed on as this copy (the
    `darkroom_earlier_receives` attribute of `darkroom.adapters.sqs`)."""
    carried = (record.get("messageAttributes") or {}).get("darkroom_earlier_receives") or {}
    try:
        return max(0, int(carried.get("stringValue", 0)))
    except (TypeError, ValueError):
        return 0


def messages(body: str) -> tuple[Read, ...]:
    """What one queue message says: S3 records, an S3 test event, an S3 event through
    EventBridge, or a darkroom job. Raises `MalformedEvent` for a message of none of these."""
    try:
        parsed = json.loads(body)
    except ValueError:
        raise MalformedEvent("the body is not JSON") from None
    except RecursionError:
        raise MalformedEvent("the body nests deeper than any message does") from None
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
        if not isinstance(parsed["Records"], list):
            raise MalformedEvent("its records are not a list")
        return tuple(s3_records(parsed))
    if parsed.get("source") == "aws.s3" and "detail" in parsed:
        return (_eventbridge(parsed),)
    job_id, photo_id = parsed.get("darkroom_job"), parsed.get("photo_id")
    if isinstance(job_id, str) and isinstance(photo_id, str) and job_id and photo_id:
        correlation_id = str(parsed.get("correlation_id") or "")
        kind = str(parsed.get("kind") or "process")
        return (JobMessage(job_id, photo_id, correlation_id, kind),)
    raise MalformedEvent(f"unknown message with fields {sorted(parsed)[:8]}")


def s3_records(event: Mapping[str, Any]) -> list[Read]:
    """The object events of an S3 notification, each record on its own; other kinds
    (restore, tagging) are left out."""
    found: list[Read] = []
    for record in event.get("Records", []):
        if not isinstance(record, Mapping):
            found.append(MalformedEvent(f"an S3 record that is not an object: {record!r:.40}"))
            continue
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
            found.append(MalformedEvent(f"an S3 {name} record without bucket or key"))
            continue
        found.append(
            ObjectEvent(
                kind,
                bucket,
                key,
                _size(obj.get("size")),
                str(obj.get("eTag", "")),
                str(obj.get("sequencer", "")),
            )
        )
    return found


def _eventbridge(event: Mapping[str, Any]) -> Read:
    """An S3 event as EventBridge delivers it: its key is the object's own, not encoded."""
    kind = _EVENTBRIDGE_KINDS.get(str(event.get("detail-type")))
    if kind is None:
        return MalformedEvent(f"an S3 event of type {str(event.get('detail-type'))[:40]!r}")
    try:
        detail = event["detail"]
        bucket = str(detail["bucket"]["name"])
        obj = detail["object"]
        key = str(obj["key"])
    except (KeyError, TypeError):
        return MalformedEvent("an EventBridge S3 event without bucket or key")
    size, etag, sequencer = _size(obj.get("size")), obj.get("etag"), obj.get("sequencer")
    return ObjectEvent(kind, bucket, key, size, str(etag or ""), str(sequencer or ""))


def _size(value: object) -> int:
    """What a record says an object's size is; 0 where it says nothing readable."""
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def is_s3_event(event: object) -> bool:
    return bool(_records(event, "eventSource", "aws:s3"))
