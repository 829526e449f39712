"""Lambda entry points, kept thin: `events` reads the event, the services do the work.

Everything is built on a container's first invocation and reused while it stays warm.
`process` and `cleanup` never import FastAPI; nothing imports SQLAlchemy unless the
catalog is an SQL database.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from darkroom import correlation, logs
from darkroom.aws import events
from darkroom.aws.events import JobMessage, MalformedEvent, Message, ObjectEvent
from darkroom.bootstrap import Darkroom, build
from darkroom.domain import PROCESS
from darkroom.errors import BadRequest
from darkroom.services.store_events import StoreEvents

if TYPE_CHECKING:
    from mangum import Mangum

log = logging.getLogger("darkroom.aws")
Event = Mapping[str, Any]
Kinds = frozenset[Literal["created", "removed"]]
_ALL: Kinds = frozenset({"created", "removed"})
_REMOVALS: Kinds = frozenset({"removed"})
RESERVE_MS = 10_000
"""Time left below which a batch's next records are handed back rather than begun (the
first is always begun): cut off by the timeout, the whole batch would come back, records
handled and all. About twenty times an iPhone photo's processing."""


@dataclass(frozen=True, slots=True)
class Runtime:
    darkroom: Darkroom
    store_events: StoreEvents

    def handle(self, message: Message, kinds: Kinds, correlation_id: str = "") -> None:
        """Raises only for transient trouble. Log lines and notifications carry the job's
        correlation id, else `correlation_id` (the queue message's id)."""
        own = message.correlation_id if isinstance(message, JobMessage) else ""
        with correlation.bound(own or correlation_id):
            self._handle(message, kinds)

    def _handle(self, message: Message, kinds: Kinds) -> None:
        if isinstance(message, JobMessage):
            if "created" not in kinds:
                return
            if message.kind == PROCESS:
                self.darkroom.processor.process(message.photo_id)
            else:
                self.darkroom.notifier.deliver_again(message.photo_id, message.kind)
            self.darkroom.queue.complete(message.job_id)
            return
        key = self.original_key(message)
        if key is None or message.kind not in kinds:
            log.info("event %s for %s/%s ignored", message.kind, message.bucket, message.key)
        elif message.kind == "created":
            self.store_events.object_created(key)
        else:
            self.store_events.object_removed(key)

    def give_up(self, message: Message, reason: str) -> None:
        """After the last attempt: the photo ends `failed`, the job `dead`."""
        if isinstance(message, JobMessage):
            if message.kind == PROCESS:
                self.darkroom.processor.fail(message.photo_id, reason)
            else:
                log.error("photo %s: %s given up: %s", message.photo_id, message.kind, reason)
            self.darkroom.queue.fail(message.job_id, reason, None)
            return
        key = self.original_key(message)
        if key is not None and message.kind == "created":
            self.store_events.give_up(key, reason)

    def original_key(self, event: ObjectEvent) -> str | None:
        """The originals store's key for the event's object; None for another bucket's."""
        location = getattr(self.darkroom.originals, "location", None)
        if location is None:
            return event.key
        key: str | None = location.key_of(event.bucket, event.key)
        return key


@functools.cache
def runtime() -> Runtime:
    dr = build()
    logging.getLogger("darkroom").setLevel(dr.settings.log_level.upper())
    logs.correlate_records()
    # the owner of photos put straight into the bucket is looked up once, at the first one
    owner = functools.cache(dr.dropped_owner)
    store_events = StoreEvents(dr.originals, dr.catalog, dr.processor, dr.cleanup, owner=owner)
    return Runtime(dr, store_events)


@functools.cache
def _asgi() -> Mangum:
    from mangum import Mangum

    from darkroom.web.app import create_app

    return Mangum(create_app(runtime().darkroom, run_workers=False), lifespan="off")


def api(event: Event, context: Any) -> dict[str, Any]:
    """The web app behind an HTTP API (payload 2.0) or a REST API proxy (1.0)."""
    return _asgi()(dict(event), context)


def process(event: Event, context: Any) -> dict[str, Any]:
    """An SQS batch of S3 ObjectCreated notifications and darkroom jobs, or an S3 event."""
    return _dispatch(event, _ALL, context)


def cleanup(event: Event, context: Any) -> dict[str, Any]:
    """S3 ObjectRemoved: the photo's variants and record go too."""
    return _dispatch(event, _REMOVALS, context)


def _dispatch(event: Event, kinds: Kinds, context: Any) -> dict[str, Any]:
    rt = runtime()
    if events.is_sqs_batch(event):
        left = getattr(context, "get_remaining_time_in_millis", None)
        failures = []
        for at, record in enumerate(events.sqs_batch(event)):
            if isinstance(record, MalformedEvent):
                log.error("%s; dropped", record)
            elif at and left is not None and left() < RESERVE_MS:
                log.warning("message %s: too little time left; handed back", record.message_id)
                failures.append({"itemIdentifier": record.message_id})
            elif not _handled(rt, record, kinds):
                failures.append({"itemIdentifier": record.message_id})
        return {"batchItemFailures": failures}
    # Invoked by S3, SNS or EventBridge itself: raising lets Lambda retry the event, then
    # send it on.
    for message in events.direct(event):
        if isinstance(message, MalformedEvent):
            log.error("%s; dropped", message)
            continue
        try:
            rt.handle(message, kinds)
        except BadRequest as exc:
            log.error("%s; dropped", exc)
    return {}


def _handled(rt: Runtime, record: events.QueuedRecord, kinds: Kinds) -> bool:
    """False when the record should come back: only for transient trouble. A bad image
    has already ended `failed` in the processor and is acknowledged."""
    attempts = rt.darkroom.settings.job_attempts
    readable: list[Message] = []
    for message in record.messages:
        if isinstance(message, MalformedEvent):
            log.error("message %s: %s; dropped", record.message_id, message)
        else:
            readable.append(message)
    if record.receive_count > attempts:
        # The queue's redrive allows one receive more than the attempts, for this: each
        # attempt ended with its runtime (out of time or memory, a crash) before it could
        # record a failure. The record goes on to the dead-letter queue.
        reason = f"gave up after {attempts} attempts: every attempt stopped its worker"
        for message in readable:
            try:
                rt.give_up(message, reason)
            except Exception:
                log.exception("message %s: could not record the failure", record.message_id)
        return False
    for message in readable:
        try:
            rt.handle(message, kinds, record.message_id)
        except BadRequest as exc:
            log.error("message %s: %s; dropped", record.message_id, exc)
        except Exception as exc:
            log.exception("message %s: attempt %d failed", record.message_id, record.receive_count)
            if record.receive_count >= rt.darkroom.settings.job_attempts:
                reason = f"gave up after {record.receive_count} attempts: {exc}"[:1000]
                try:
                    rt.give_up(message, reason)
                except Exception:
                    log.exception("message %s: could not record the failure", record.message_id)
            return False
    return True
