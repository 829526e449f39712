"""`darkroom jobs` shows what SQS moved to the dead-letter queue, with the reason the photo's
record keeps, and `darkroom jobs retry` sends letters back one by one or all at once (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from darkroom.adapters import aws
from darkroom.adapters.dynamodb_table import create_table
from darkroom.adapters.sqs import SqsJobQueue, job_message
from darkroom.bootstrap import build
from darkroom.domain import Job, JobState, Photo, PhotoStatus
from tests.aws.servers import MOTO_KEY, MOTO_SECRET, REGION, aws_client, moto_endpoint, unique
from tests.e2e.test_cli import darkroom

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


def _bodies(sqs: object, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # type: ignore[attr-defined]
    return [m["Body"] for m in got.get("Messages", [])]


def test_dead_letters_are_listed_and_sent_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = moto_endpoint()
    sqs = aws_client("sqs", endpoint)
    table = unique("photos")
    create_table(aws_client("dynamodb", endpoint), table)
    dlq = sqs.create_queue(QueueName=unique("dead"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 5}
    events = sqs.create_queue(
        QueueName=unique("events"), Attributes={"RedrivePolicy": json.dumps(policy)}
    )["QueueUrl"]
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": MOTO_KEY,
        "AWS_SECRET_ACCESS_KEY": MOTO_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "DARKROOM_ORIGINALS": "memory://",
        "DARKROOM_VARIANTS_STORE": "memory://variants",
        "DARKROOM_CATALOG": f"dynamodb://{table}",
        "DARKROOM_QUEUE": f"sqs+{events}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(aws, "_clients", {})
    dr = build()
    assert isinstance(dr.queue, SqsJobQueue)
    reason = "gave up after 5 attempts: Unavailable: the store is away"
    for photo_id, key in (("p1", "1_p1.jpg"), ("p2", "holiday/beach 1.jpg")):
        failed = PhotoStatus.FAILED
        dr.catalog.add(Photo(photo_id, "local", key, key, NOW, NOW, status=failed, reason=reason))
    dr.queue.ledger.put(Job("j1", "p1", NOW, NOW))
    dr.queue.ledger.fail("j1", "Unavailable: the store is away", None)
    sqs.send_message(QueueUrl=dlq, MessageBody=job_message("j1", "p1"))
    record = {"eventName": "ObjectCreated:Put", "eventSource": "aws:s3"}
    s3 = {"bucket": {"name": "originals"}, "object": {"key": "holiday/beach+1.jpg", "size": 9}}
    event = {"Records": [record | {"s3": s3}]}
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))

    listed = darkroom(tmp_path, "jobs", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "job j1 of photo p1" in listed.stdout and "holiday/beach 1.jpg" in listed.stdout
    assert listed.stdout.count("the store is away") >= 2
    letters = {letter.subject: letter.id for letter in dr.queue.dead_letters()}
    assert set(letters) == {"job j1 of photo p1", "holiday/beach 1.jpg"}

    one = darkroom(tmp_path, "jobs", "retry", letters["holiday/beach 1.jpg"], env=env)
    assert one.returncode == 0 and "sent back" in one.stderr, one.stderr
    assert _bodies(sqs, events) == [json.dumps(event)]
    assert [letter.subject for letter in dr.queue.dead_letters()] == ["job j1 of photo p1"]

    every = darkroom(tmp_path, "jobs", "retry", "--all", env=env)
    assert every.returncode == 0, every.stderr
    assert dr.queue.dead_letters() == []
    assert [j.id for j in dr.queue.jobs(frozenset({JobState.QUEUED}))] == ["j1"]
    assert json.loads(_bodies(sqs, events)[0]) == {"darkroom_job": "j1", "photo_id": "p1"}
    assert "the dead-letter queue is empty" in darkroom(tmp_path, "jobs", env=env).stdout
