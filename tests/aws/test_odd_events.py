"""The processing and cleanup functions against odd and hostile events, on moto's server:
each is handled, or dropped with a log line, and never costs another record."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from darkroom.aws import handlers
from darkroom.domain import PhotoStatus
from darkroom.errors import NotFound
from tests.aws.conftest import Stack
from tests.aws.test_events import EVENTBRIDGE, s3_record, sqs_record
from tests.corpus import corpus

PHOTO = "S01_canon_sd300_2mp.jpg"


def _notification(bucket: str, *keys: str, name: str = "ObjectCreated:Put") -> str:
    records = [s3_record(name, key) for key in keys]
    for record in records:
        record["s3"]["bucket"]["name"] = bucket
    return json.dumps({"Records": records})


@dataclass
class Context:
    """What Lambda hands a function: how long it has left."""

    left_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms


def test_odd_records_in_one_batch_are_each_handled_or_dropped(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = stack.client("s3")
    for key in ("Été 2026/IMG 1.jpg", "by-eventbridge.jpg", "through-sns.jpg", "a+b.jpg"):
        s3.put_object(Bucket=stack.originals, Key=key, Body=corpus(PHOTO), ContentType="image/jpeg")
    s3.put_object(Bucket=stack.originals, Key="folder/", Body=b"")
    s3.put_object(Bucket=stack.variants, Key="v/x.jpg", Body=corpus(PHOTO))
    stack.drain(stack.queue_url)  # moto's own notifications: these are sent by hand
    bridge = EVENTBRIDGE | {
        "detail": {"bucket": {"name": stack.originals}, "object": {"key": "by-eventbridge.jpg"}}
    }
    sns = {"Type": "Notification", "Message": _notification(stack.originals, "through-sns.jpg")}
    bodies = {
        "test": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}),
        "encoded": _notification(stack.originals, "%C3%89t%C3%A9+2026%2FIMG+1.jpg", "a%2Bb.jpg"),
        "folder": _notification(stack.originals, "folder%2F"),
        "variants": _notification(stack.variants, "v%2Fx.jpg"),
        "eventbridge": json.dumps(bridge),
        "sns": json.dumps(sns),
        "junk": json.dumps({"Records": "junk"}),
        "no-key": json.dumps(
            {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}
        ),
    }
    batch = {"Records": [sqs_record(body, name) for name, body in bodies.items()]}
    with caplog.at_level(logging.INFO, "darkroom"):
        assert handlers.process(batch, Context(60_000)) == {"batchItemFailures": []}

    catalog = handlers.runtime().darkroom.catalog
    for key in ("Été 2026/IMG 1.jpg", "a+b.jpg", "by-eventbridge.jpg", "through-sns.jpg"):
        assert catalog.get_by_key(key).status in (PhotoStatus.READY, PhotoStatus.DUPLICATE), key
    for key in ("folder/", "v/x.jpg"):
        with pytest.raises(NotFound):
            catalog.get_by_key(key)
    logged = caplog.text
    assert "message junk" in logged and "message no-key" in logged and "dropped" in logged
    assert "invalid object key 'folder/'" in logged and "v/x.jpg ignored" in logged


def test_an_event_for_an_original_deleted_since_leaves_its_photo_to_the_removal(
    stack: Stack,
) -> None:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.originals, Key="a.jpg", Body=corpus(PHOTO), ContentType="image/jpeg")
    created = stack.drain(stack.queue_url)
    assert handlers.process(created, None) == {"batchItemFailures": []}
    stack.drain(stack.inbox_url)
    s3.delete_object(Bucket=stack.originals, Key="a.jpg")

    assert handlers.process(created, None) == {"batchItemFailures": []}  # S3 sends it again
    photo = handlers.runtime().darkroom.catalog.get_by_key("a.jpg")
    assert photo.status is PhotoStatus.READY
    assert stack.drain(stack.inbox_url)["Records"] == []  # no one told it failed
    assert handlers.cleanup(stack.drain(stack.removals_url), None) == {"batchItemFailures": []}
    assert stack.items() == [] and stack.objects(stack.variants) == []


def test_a_batch_longer_than_the_time_left_hands_the_rest_back(stack: Stack) -> None:
    s3 = stack.client("s3")
    for key in ("a.jpg", "b.jpg", "c.jpg"):
        s3.put_object(Bucket=stack.originals, Key=key, Body=corpus(PHOTO), ContentType="image/jpeg")
    stack.drain(stack.queue_url)
    batch = {
        "Records": [sqs_record(_notification(stack.originals, k), k) for k in ("a.jpg", "b.jpg")]
    }
    answer = handlers.process(batch, Context(0))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b.jpg"}]}
    catalog = handlers.runtime().darkroom.catalog
    assert catalog.get_by_key("a.jpg").status is PhotoStatus.READY
    with pytest.raises(NotFound):
        catalog.get_by_key("b.jpg")


@pytest.mark.parametrize("event", [[1, 2], {"Records": ["x"]}, {"hello": "world"}])
def test_an_event_of_no_known_shape_is_dropped_with_a_log_line(
    stack: Stack, event: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert handlers.cleanup(event, None) == {}
    assert "dropped" in caplog.text


def test_a_removal_event_with_an_unreadable_record_still_removes_the_others(
    stack: Stack,
) -> None:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.originals, Key="a.jpg", Body=corpus(PHOTO), ContentType="image/jpeg")
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    s3.delete_object(Bucket=stack.originals, Key="a.jpg")
    removed = json.loads(_notification(stack.originals, "a.jpg", name="ObjectRemoved:Delete"))
    removed["Records"].insert(0, {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete"})
    assert handlers.cleanup(removed, None) == {}
    assert stack.items() == [] and stack.objects(stack.variants) == []
