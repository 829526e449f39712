"""The JobQueue contract (`test_job_queue.py`'s own tests) over SQS and its DynamoDB job
ledger, on moto's server."""

from __future__ import annotations

import json

import pytest

from darkroom.adapters.dynamodb_jobs import DynamoDbJobLedger
from darkroom.adapters.dynamodb_table import create_table
from darkroom.adapters.sqs import SqsJobQueue
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
