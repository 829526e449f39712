"""Processing jobs delivered by SQS, their states kept in the DynamoDB job ledger.

On Lambda, SQS hands messages to the `process` function itself and its redrive policy
moves a message that keeps failing into the dead-letter queue. `claim` is for workers
that poll (`darkroom process` on a server).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from darkroom.adapters.aws import client, translated
from darkroom.adapters.dynamodb_jobs import DynamoDbJobLedger
from darkroom.domain import LIVE_JOBS, PROCESS, DeadLetter, Job, JobState
from darkroom.errors import DarkroomError, NotFound

if TYPE_CHECKING:
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger(__name__)

MAX_DELAY = 900
"""Longest delay SQS gives one message; a job due later arrives early and is put back."""
MAX_HIDE = 43200
_BATCH = 10
EARLIER_RECEIVES = "darkroom_earlier_receives"
"""A message attribute: the receives of an S3 event before a worker passed it on, which the
processing function counts with the copy's own (`darkroom.aws.events` reads it)."""


def job_message(job_id: str, photo_id: str, correlation_id: str = "", kind: str = PROCESS) -> str:
    """The body of a job's message; `darkroom.aws.events` reads it back."""
    body = {"darkroom_job": job_id, "photo_id": photo_id}
    if correlation_id:
        body["correlation_id"] = correlation_id
    if kind != PROCESS:
        body["kind"] = kind
    return json.dumps(body)


class SqsJobQueue:
    """Also darkroom's `Transactions` on AWS: inside `atomic()` jobs are sent only once the
    block has succeeded. Catalog writes in DynamoDB are not undone by a failed block; the
    S3 event of the original is the backstop that still gets the photo processed."""

    delivers_jobs = True
    """SQS hands the messages to the processing function (`ports.DeliveredQueue`)."""

    def __init__(
        self,
        queue_url: str,
        ledger: DynamoDbJobLedger,
        sqs_client: SQSClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.queue_url = queue_url
        self.ledger = ledger
        self._client = sqs_client
        self._endpoint_url = endpoint_url
        self._region = region
        self._receipts: dict[str, str] = {}
        self._pending: ContextVar[list[Job] | None] = ContextVar("darkroom_sqs", default=None)
        self._dlq_url: str | None = None

    @property
    def sqs(self) -> SQSClient:
        if self._client is None:
            self._client = client("sqs", self._endpoint_url, self._region)
        return self._client

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if self._pending.get() is not None:
            yield
            return
        pending: list[Job] = []
        token = self._pending.set(pending)
        try:
            yield
        finally:
            self._pending.reset(token)
        for job in pending:
            self._send(job)

    def enqueue(self, job: Job) -> None:
        pending = self._pending.get()
        if pending is None:
            self._send(job)
        else:
            pending.append(job)

    def claim(self, worker: str, lease_seconds: float) -> Job | None:
        """The earliest due job among one batch of messages (SQS itself keeps no order).
        Messages of jobs not due yet, or leased to another worker, are hidden until then."""
        with translated("cannot receive jobs"):
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=_BATCH,
                VisibilityTimeout=int(lease_seconds),
                WaitTimeSeconds=0,
                AttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=[EARLIER_RECEIVES],
            ).get("Messages", [])
        now = time.time()
        due: list[tuple[datetime, str, str]] = []
        for message in messages:
            receipt = message["ReceiptHandle"]
            job_id = _job_id(message.get("Body", ""))
            if not job_id:
                # Not a job: an S3 event, on the queue the processing function reads. Left
                # for it at once, as a worker polling the same queue (`darkroom process`,
                # `reprocess`) has nothing to do with it.
                self._pass_on(message)
                continue
            found = self.ledger.get(job_id)
            if found is None or found[0].state in (JobState.DONE, JobState.DEAD):
                self._delete(receipt)
                continue
            job, lease_until = found
            if job.state is JobState.RUNNING and lease_until > now:
                self._hide(receipt, lease_until - now)
            elif job.state is JobState.QUEUED and job.run_at.timestamp() > now:
                self._hide(receipt, job.run_at.timestamp() - now)
            else:
                due.append((job.run_at, job.id, receipt))
        chosen: Job | None = None
        for _, job_id, receipt in sorted(due):
            taken = None if chosen else self.ledger.take(job_id, lease_seconds, now)
            if taken is None:
                self._hide(receipt, 0)
            else:
                chosen = taken
                self._receipts[job_id] = receipt
        if chosen is not None:
            log.debug("job %s: claimed by %s", chosen.id, worker)
        return chosen

    def complete(self, job_id: str) -> None:
        self.ledger.finish(job_id)
        self._forget(job_id)

    def fail(self, job_id: str, error: str, retry_at: datetime | None) -> None:
        job = self.ledger.fail(job_id, error, retry_at)
        if job is None:
            return
        self._forget(job_id)
        if retry_at is not None:
            self._message(job, retry_at)

    def get(self, job_id: str) -> Job:
        found = self.ledger.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}")
        return found[0]

    def jobs(
        self, states: frozenset[JobState], limit: int = 100, after: Job | None = None
    ) -> list[Job]:
        return self.ledger.jobs(states, limit, after) if states else []

    def with_jobs(
        self, photo_ids: Collection[str], kind: str, states: frozenset[JobState] = LIVE_JOBS
    ) -> set[str]:
        return self.ledger.with_jobs(photo_ids, kind, states)

    def count(self, states: frozenset[JobState]) -> dict[JobState, int]:
        return self.ledger.count(states)

    def count_due(self, now: datetime) -> int:
        return self.ledger.count_due(now)

    def retry(self, job_id: str, run_at: datetime) -> Job:
        job = self.ledger.retry(job_id, run_at)
        self._message(job, run_at)
        return job

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """A look at the dead-letter queue: letters are hidden while it is read (so that
        each comes once), then visible again."""
        messages = list(self._dead_messages(limit, hide_seconds=30))
        for message in messages:
            self._hide(message["ReceiptHandle"], 0, self._dead_letter_url())
        return [_letter(message) for message in messages]

    def redrive(self, letter_ids: Collection[str] | None = None) -> list[DeadLetter]:
        """A job's letter makes the job due again; an S3 event goes back as it was."""
        wanted = None if letter_ids is None else set(letter_ids)
        moved = []
        for message in self._dead_messages(10_000, hide_seconds=60):
            letter = _letter(message)
            if wanted is not None and letter.id not in wanted:
                self._hide(message["ReceiptHandle"], 0, self._dead_letter_url())
                continue
            job_id = _job_id(message.get("Body", ""))
            if job_id and self.ledger.get(job_id) is not None:
                self.retry(job_id, datetime.now(UTC))
            else:
                with translated("cannot send a dead letter back"):
                    self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=message["Body"])
            self._delete(message["ReceiptHandle"], self._dead_letter_url())
            moved.append(letter)
            if wanted is not None and len(moved) == len(wanted):
                break
        return moved

    def _dead_messages(self, limit: int, hide_seconds: int) -> Iterator[Any]:
        url = self._dead_letter_url()
        seen: set[str] = set()
        while len(seen) < limit:
            with translated("cannot read the dead-letter queue"):
                batch = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=_BATCH,
                    VisibilityTimeout=hide_seconds,
                    AttributeNames=["ApproximateReceiveCount"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                return
            for message in fresh:
                seen.add(message["MessageId"])
                yield message

    def _dead_letter_url(self) -> str:
        if self._dlq_url is None:
            with translated("cannot find the dead-letter queue"):
                policy = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
                ).get("Attributes", {})
                if "RedrivePolicy" not in policy:
                    raise NotFound(f"the queue {self.queue_url} has no dead-letter queue")
                arn = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"]
                _, _, _, _, account, name = arn.split(":")
                self._dlq_url = self.sqs.get_queue_url(
                    QueueName=name, QueueOwnerAWSAccountId=account
                )["QueueUrl"]
        return self._dlq_url

    def _send(self, job: Job) -> None:
        self.ledger.put(job)
        self._message(job, job.run_at)

    def _message(self, job: Job, run_at: datetime) -> None:
        delay = min(MAX_DELAY, max(0, math.ceil(run_at.timestamp() - time.time())))
        body = job_message(job.id, job.photo_id, job.correlation_id, job.kind)
        with translated(f"cannot queue job {job.id}"):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)

    def _forget(self, job_id: str) -> None:
        receipt = self._receipts.pop(job_id, None)
        if receipt is not None:
            self._delete(receipt)

    def _delete(self, receipt: str, queue_url: str = "") -> None:
        try:
            with translated("cannot delete a message"):
                self.sqs.delete_message(QueueUrl=queue_url or self.queue_url, ReceiptHandle=receipt)
        except DarkroomError as exc:
            # The ledger already says what happened; the message comes back and is dropped.
            log.warning("%s", exc)

    def _pass_on(self, message: Any) -> None:
        """A copy of a message that is not a job, and this one deleted. Made visible again,
        it would keep this receive: one a second from a worker polling an idle queue, and
        within seconds the processing function would take the event for one that used up
        its attempts (or the queue would move it to its dead letters) unprocessed. The
        copy carries the receives before this one."""
        earlier = _receives(message) - 1
        attributes: dict[str, Any] = {}
        if earlier > 0:
            attributes[EARLIER_RECEIVES] = {"DataType": "Number", "StringValue": str(earlier)}
        try:
            with translated("cannot pass a message on"):
                self.sqs.send_message(
                    QueueUrl=self.queue_url,
                    MessageBody=message.get("Body", ""),
                    MessageAttributes=attributes,
                )
        except DarkroomError as exc:
            log.warning("%s", exc)
            self._hide(message["ReceiptHandle"], 0)
            return
        self._delete(message["ReceiptHandle"])

    def _hide(self, receipt: str, seconds: float, queue_url: str = "") -> None:
        """Floor, not ceil: a lease shorter than a second must not outlive itself."""
        try:
            with translated("cannot put a message back"):
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url or self.queue_url,
                    ReceiptHandle=receipt,
                    VisibilityTimeout=min(MAX_HIDE, max(0, int(seconds))),
                )
        except DarkroomError as exc:
            log.warning("%s", exc)


def _receives(message: Any) -> int:
    """How often a message was received, with the receives of the one it copies."""
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
    carried = message.get("MessageAttributes", {}).get(EARLIER_RECEIVES, {})
    try:
        return count + max(0, int(carried.get("StringValue", 0)))
    except ValueError:
        return count


def _job_id(body: str) -> str:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return ""
    job_id = parsed.get("darkroom_job") if isinstance(parsed, dict) else None
    return job_id if isinstance(job_id, str) else ""


def _letter(message: Any) -> DeadLetter:
    """What a dead letter was about, read from its body (a job, or an S3 event)."""
    receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))
    body = message.get("Body", "")
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("darkroom_job"), str):
        photo_id = str(parsed.get("photo_id", ""))
        subject = f"job {parsed['darkroom_job']} of photo {photo_id}"
        return DeadLetter(message["MessageId"], subject, photo_id=photo_id, receives=receives)
    if isinstance(parsed, dict) and isinstance(parsed.get("requestPayload"), dict):
        parsed = parsed["requestPayload"]  # a Lambda on-failure destination's record
    records = parsed.get("Records", []) if isinstance(parsed, dict) else []
    keys = [
        unquote_plus(str(r.get("s3", {}).get("object", {}).get("key", "")))
        for r in records
        if isinstance(r, dict)
    ]
    key = keys[0] if len(keys) == 1 else ""
    subject = ", ".join(keys) or body[:80]
    return DeadLetter(message["MessageId"], subject, key=key, receives=receives)
