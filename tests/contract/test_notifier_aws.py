"""The Notifier contract (`test_notifier.py`'s own tests) over SNS on moto's server, and
what a subscriber receives."""

from __future__ import annotations

import dataclasses
import json

import pytest

from darkroom.adapters.sns import SnsNotifier
from darkroom.errors import Unavailable
from darkroom.ports import Notifier
from tests.aws.servers import aws_client, moto_endpoint, unique
from tests.contract import test_notifier
from tests.contract.reuse import suite_of
from tests.contract.test_notifier import FAILED, READY

globals().update(suite_of(test_notifier, "notifier"))


@pytest.fixture
def notifier() -> Notifier:
    sns = aws_client("sns", moto_endpoint())
    return SnsNotifier(sns.create_topic(Name=unique("darkroom"))["TopicArn"], sns)


def test_subscribers_get_the_log_notifiers_message() -> None:
    endpoint = moto_endpoint()
    sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
    topic = sns.create_topic(Name=unique("darkroom"))["TopicArn"]
    inbox = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=inbox_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    notifier = SnsNotifier(topic, sns)
    notifier.photo_processed(READY)
    notifier.photo_processed(FAILED)
    received = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted((json.loads(m["Body"]) for m in received), key=lambda b: str(b["id"]))
    assert [b["event"] for b in bodies] == ["photo.ready", "photo.failed"]
    assert bodies[0]["variants"]["thumb"]["key"] == "p1/thumb-1.jpg"
    assert bodies[1]["reason"] == "the JPEG header is damaged"


def test_a_missing_topic_is_unavailable() -> None:
    sns = aws_client("sns", moto_endpoint())
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    with pytest.raises(Unavailable, match=r"cannot publish photo\.ready of photo p1"):
        SnsNotifier(missing, sns).photo_processed(READY)


def test_a_photo_of_any_name_gets_a_subject_sns_takes() -> None:
    """SNS takes a subject of ASCII without line breaks or control characters, shorter than
    100 characters; moto takes anything, so the subject is checked as delivered."""
    endpoint = moto_endpoint()
    sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
    topic = sns.create_topic(Name=unique("darkroom"))["TopicArn"]
    inbox = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
    name = "Été à Kyōto\t東京タワー\n" + "très long nom " * 10 + ".jpg"
    SnsNotifier(topic, sns).photo_processed(dataclasses.replace(READY, filename=name))
    (received,) = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    subject = json.loads(received["Body"])["Subject"]
    assert subject.startswith("darkroom: photo.ready Ete a Kyoto ????? tres long nom")
    assert subject.isascii() and subject.isprintable() and len(subject) < 100
