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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any

from darkroom.adapters.aws import client, translated
from darkroom.adapters.dynamodb_jobs import DynamoDbJobLedger
from darkroom.domain import Job, JobState
from darkroom.errors import DarkroomError

if TYPE_CHECKING:
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger(__name__)

MAX_DELAY = 900
"""Longest delay SQS gives one message; a job due later arrives early and is put back."""
MAX_HIDE = 43200
_BATCH = 10


def job_message(job_id: str, photo_id: str) -> str:
    """The body of a job's message; `darkroom.aws.events` reads it back."""
    return json.dumps({"darkroom_job": job_id, "photo_id": photo_id})


class SqsJobQueue:
    """Also darkroom's `Transactions` on AWS: inside `atomic()` jobs are sent only once the
    block has succeeded. Catalog writes in DynamoDB are not undone by a failed block; the
    S3 event of the original is the backstop that still gets the photo processed."""

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
            ).get("Messages", [])
        now = time.time()
        due: list[tuple[datetime, str, str]] = []
        for message in messages:
            receipt = message["ReceiptHandle"]
            job_id = _job_id(message.get("Body", ""))
            found = self.ledger.get(job_id) if job_id else None
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
            self._message(job_id, job.photo_id, retry_at)

    def jobs(self, states: frozenset[JobState], limit: int = 100) -> list[Job]:
        return self.ledger.jobs(states, limit) if states else []

    def retry(self, job_id: str, run_at: datetime) -> Job:
        job = self.ledger.retry(job_id, run_at)
        self._message(job.id, job.photo_id, run_at)
        return job

    def _send(self, job: Job) -> None:
        self.ledger.put(job)
        self._message(job.id, job.photo_id, job.run_at)

    def _message(self, job_id: str, photo_id: str, run_at: datetime) -> None:
        delay = min(MAX_DELAY, max(0, math.ceil(run_at.timestamp() - time.time())))
        body = job_message(job_id, photo_id)
        with translated(f"cannot queue job {job_id}"):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)

    def _forget(self, job_id: str) -> None:
        receipt = self._receipts.pop(job_id, None)
        if receipt is not None:
            self._delete(receipt)

    def _delete(self, receipt: str) -> None:
        try:
            with translated("cannot delete a message"):
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except DarkroomError as exc:
            # The ledger already says what happened; the message comes back and is dropped.
            log.warning("%s", exc)

    def _hide(self, receipt: str, seconds: float) -> None:
        """Floor, not ceil: a lease shorter than a second must not outlive itself."""
        try:
            with translated("cannot put a message back"):
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=receipt,
                    VisibilityTimeout=min(MAX_HIDE, max(0, int(seconds))),
                )
        except DarkroomError as exc:
            log.warning("%s", exc)


def _job_id(body: str) -> str:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return ""
    job_id = parsed.get("darkroom_job") if isinstance(parsed, dict) else None
    return job_id if isinstance(job_id, str) else ""
