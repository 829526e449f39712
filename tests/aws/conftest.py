"""A darkroom stack on moto's server, wired the way `infra/template.yaml` wires the
Lambda functions: through environment variables read by `bootstrap`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from darkroom.adapters import aws
from darkroom.adapters.dynamodb_table import create_table
from darkroom.aws import handlers
from tests.aws.lambda_events import sqs_event
from tests.aws.servers import MOTO_KEY, MOTO_SECRET, REGION, aws_client, moto_endpoint, unique


@dataclass
class Stack:
    endpoint: str
    originals: str
    variants: str
    table: str
    queue_url: str
    queue_arn: str
    removals_url: str
    inbox_url: str

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)

    def drain(self, queue_url: str, queue_arn: str = "") -> dict[str, Any]:
        """Every message now in the queue, as one Lambda SQS event; deleted from the queue
        as Lambda does after a successful invocation."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", [])
            if not got:
                break
            messages.extend(got)
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sqs_event(messages, queue_arn or f"arn:aws:sqs:{REGION}:123456789012:q")

    def objects(self, bucket: str) -> list[str]:
        listed = self.client("s3").list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in listed.get("Contents", [])]

    def items(self) -> list[str]:
        scanned = self.client("dynamodb").scan(TableName=self.table)
        return sorted(item["pk"]["S"] for item in scanned["Items"])


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    endpoint = moto_endpoint()
    s3, sqs, sns = (aws_client(name, endpoint) for name in ("s3", "sqs", "sns"))
    originals, variants, table = unique("originals"), unique("variants"), unique("photos")
    for bucket in (originals, variants):
        s3.create_bucket(Bucket=bucket)
    create_table(aws_client("dynamodb", endpoint), table)
    queues = {}
    for name in ("events", "removals", "inbox"):
        url = sqs.create_queue(QueueName=unique(name))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        queues[name] = (url, arn["Attributes"]["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=originals,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queues["events"][1], "Events": ["s3:ObjectCreated:*"]},
                {"QueueArn": queues["removals"][1], "Events": ["s3:ObjectRemoved:*"]},
            ]
        },
    )
    topic = sns.create_topic(Name=unique("darkroom"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queues["inbox"][1],
        Attributes={"RawMessageDelivery": "true"},
    )
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": MOTO_KEY,
        "AWS_SECRET_ACCESS_KEY": MOTO_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "DARKROOM_DATA_DIR": str(tmp_path),
        "DARKROOM_ORIGINALS": f"s3://{originals}",
        "DARKROOM_VARIANTS_STORE": f"s3://{variants}",
        "DARKROOM_CATALOG": f"dynamodb://{table}",
        "DARKROOM_QUEUE": f"sqs+{queues['events'][0]}",
        "DARKROOM_NOTIFY": f"sns://{topic}",
        "DARKROOM_WAIT_TIMEOUT": "0",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(aws, "_clients", {})
    handlers.runtime.cache_clear()
    handlers._asgi.cache_clear()
    yield Stack(
        endpoint,
        originals,
        variants,
        table,
        queues["events"][0],
        queues["events"][1],
        queues["removals"][0],
        queues["inbox"][0],
    )
    handlers.runtime.cache_clear()
    handlers._asgi.cache_clear()
