"""The JobQueue contract (`test_job_queue.py`'s own tests) over SQS and its DynamoDB job
ledger, on moto's server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from darkroom.adapters.dynamodb_jobs import DynamoDbJobLedger, _item
from darkroom.adapters.dynamodb_table import create_table
from darkroom.adapters.sqs import SqsJobQueue
from darkroom.domain import PROCESS, Job, JobState
from darkroom.errors import Unavailable
from darkroom.ports import JobQueue
from tests.aws.servers import aws_client, moto_endpoint, unique
from tests.contract import test_job_queue
from tests.contract.reuse import suite_of

globals().update(suite_of(test_job_queue, "queue"))


@pytest.fixture
def queue() -> JobQueue:
    endpoint = moto_endpoint()
    dynamodb, sqs = aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    table = unique("darkroom")
    create_table(dynamodb, table)
    queue_url = sqs.create_queue(QueueName=unique("darkroom-jobs"))["QueueUrl"]
    return SqsJobQueue(queue_url, DynamoDbJobLedger(table, dynamodb), sqs)


def test_a_worker_leaves_the_s3_events_on_the_queue_to_the_processing_function() -> None:
    """The template's queue carries S3 events and jobs alike: a worker polling it (as
    `darkroom process` or `reprocess` do) takes the jobs and leaves the events, visible."""
    endpoint = moto_endpoint()
    dynamodb, sqs = aws_client("dynamodb", endpoint), aws_client("sqs", endpoint)
    table = unique("darkroom")
    create_table(dynamodb, table)
    queue_url = sqs.create_queue(QueueName=unique("darkroom-jobs"))["QueueUrl"]
    queue = SqsJobQueue(queue_url, DynamoDbJobLedger(table, dynamodb), sqs)
    event = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]})
    sqs.send_message(QueueUrl=queue_url, MessageBody=event)
    assert queue.claim("worker", 60) is None
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in received.get("Messages", [])] == [event]


def _ledger() -> tuple[DynamoDbJobLedger, Any]:
    endpoint = moto_endpoint()
    dynamodb = aws_client("dynamodb", endpoint)
    table = unique("darkroom")
    create_table(dynamodb, table)
    return DynamoDbJobLedger(table, dynamodb), dynamodb


def _record_as_before_gsi2(ledger: DynamoDbJobLedger, dynamodb: Any, job: Job) -> None:
    """The item as versions before the index by photo wrote it: no `gsi2` keys, no kind."""
    item = {
        name: value
        for name, value in _item(job).items()
        if name not in ("gsi2pk", "gsi2sk", "kind")
    }
    dynamodb.put_item(TableName=ledger.table, Item=item)


def _job_of(photo_id: str, state: JobState = JobState.QUEUED) -> Job:
    now = datetime.now(UTC)
    return Job(unique("job"), photo_id, now, now, state)


def test_live_jobs_recorded_before_the_index_by_photo_are_found_by_photo() -> None:
    ledger, dynamodb = _ledger()
    queued = _job_of("p-queued")
    running = _job_of("p-running", JobState.RUNNING)
    dead = _job_of("p-dead", JobState.DEAD)
    for job in (queued, running, dead):
        _record_as_before_gsi2(ledger, dynamodb, job)
    photos = {"p-queued", "p-running", "p-dead", "p-none"}
    assert ledger.with_jobs(photos, PROCESS) == {"p-queued", "p-running"}
    # Later asks, by this ledger or another, find them through the index alone.
    assert DynamoDbJobLedger(ledger.table, dynamodb).with_jobs(photos, PROCESS) == {
        "p-queued",
        "p-running",
    }
    assert ledger.item(f"JOB#{dead.id}") is not None
    assert "gsi2pk" not in (ledger.item(f"JOB#{dead.id}") or {})


def test_a_job_recorded_without_its_index_keys_gets_them_when_it_is_taken() -> None:
    """A job an older version records after the table was marked indexed (a deployment
    under way) is indexed by photo at its first update."""
    ledger, dynamodb = _ledger()
    assert ledger.with_jobs({"p-late"}, PROCESS) == set()
    late = _job_of("p-late")
    _record_as_before_gsi2(ledger, dynamodb, late)
    taken = ledger.take(late.id, 60, time.time())
    assert taken is not None and taken.photo_id == "p-late"
    assert ledger.with_jobs({"p-late"}, PROCESS) == {"p-late"}
    assert ledger.with_jobs({"p-late"}, PROCESS, frozenset({JobState.RUNNING})) == {"p-late"}


def test_a_job_taken_stays_taken_when_indexing_it_by_photo_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The claim is made: an error of the indexing after it passed for the claim's, and
    left the job to wait out its lease, run by nobody."""
    ledger, dynamodb = _ledger()
    late = _job_of("p-late")
    _record_as_before_gsi2(ledger, dynamodb, late)

    def away(item: Any) -> None:
        raise Unavailable("DynamoDB is away")

    monkeypatch.setattr(ledger, "_index_by_photo", away)
    taken = ledger.take(late.id, 60, time.time())
    assert taken is not None and taken.state is JobState.RUNNING
    monkeypatch.undo()
    ledger.finish(late.id)  # the next update indexes it
    assert ledger.with_jobs({"p-late"}, PROCESS, frozenset({JobState.DONE})) == {"p-late"}
