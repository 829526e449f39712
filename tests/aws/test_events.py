"""Raw Lambda events into plain values: the traps of S3 notifications."""

from __future__ import annotations

import json
from typing import Any

import pytest

from darkroom.aws import events
from darkroom.aws.events import JobMessage, MalformedEvent, ObjectEvent


def s3_record(name: str, key: str, **object_fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": name,
        "s3": {"bucket": {"name": "originals"}, "object": {"key": key, **object_fields}},
    }


def sqs_record(body: str, message_id: str = "m1", receive_count: str = "1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": receive_count},
        "eventSource": "aws:sqs",
    }


def test_keys_are_url_decoded_and_missing_fields_tolerated() -> None:
    event = {"Records": [s3_record("ObjectCreated:Put", "Holiday+2026%2FIMG+%C3%A9+1.jpg")]}
    assert events.is_s3_event(event) and not events.is_sqs_batch(event)
    assert events.s3_records(event) == [
        ObjectEvent("created", "originals", "Holiday 2026/IMG é 1.jpg")
    ]


def test_sizes_etags_and_sequencers_are_kept_when_present() -> None:
    record = s3_record(
        "ObjectRemoved:DeleteMarkerCreated", "a.jpg", size=5, eTag="e", sequencer="0A"
    )
    assert events.s3_records({"Records": [record]}) == [
        ObjectEvent("removed", "originals", "a.jpg", 5, "e", "0A")
    ]


def test_other_s3_events_are_left_out() -> None:
    event = {"Records": [s3_record("ObjectRestore:Completed", "a.jpg"), {"eventSource": "aws:sns"}]}
    assert events.s3_records(event) == []


def test_an_sqs_batch_carries_notifications_test_events_jobs_and_sns_envelopes() -> None:
    notification = json.dumps({"Records": [s3_record("ObjectCreated:Post", "b.jpg")]})
    envelope = json.dumps({"Type": "Notification", "Message": notification})
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "o"})
    job = json.dumps({"darkroom_job": "j1", "photo_id": "p1"})
    batch = {
        "Records": [
            sqs_record(notification, "m1", "3"),
            sqs_record(envelope, "m2"),
            sqs_record(test_event, "m3"),
            sqs_record(job, "m4"),
        ]
    }
    assert events.is_sqs_batch(batch)
    found = events.sqs_batch(batch)
    created = (ObjectEvent("created", "originals", "b.jpg"),)
    assert found == [
        events.QueuedRecord("m1", 3, created),
        events.QueuedRecord("m2", 1, created),
        events.QueuedRecord("m3", 1, ()),
        events.QueuedRecord("m4", 1, (JobMessage("j1", "p1"),)),
    ]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        json.dumps({"Records": "not a list"}),
        "[" * 100_000,  # nested deeper than the JSON decoder recurses
    ],
)
def test_unreadable_messages_are_reported_one_by_one(body: str) -> None:
    good = sqs_record(json.dumps({"darkroom_job": "j1", "photo_id": "p1"}), "good")
    bad, fine = events.sqs_batch({"Records": [sqs_record(body, "bad"), good]})
    assert isinstance(bad, MalformedEvent) and "bad" in str(bad)
    assert isinstance(fine, events.QueuedRecord) and fine.message_id == "good"


def test_other_events_are_neither_sqs_nor_s3() -> None:
    others: list[dict[str, Any]] = [{}, {"Records": []}, {"version": "2.0", "rawPath": "/"}]
    for event in others:
        assert not events.is_sqs_batch(event) and not events.is_s3_event(event)


def test_job_messages_bring_their_kind_and_correlation_id_back() -> None:
    from darkroom.adapters.sqs import job_message

    assert events.messages(job_message("j1", "p1")) == (JobMessage("j1", "p1"),)
    body = job_message("j2", "p2", "req-7", "notify:webhook example.org/hook")
    assert events.messages(body) == (
        JobMessage("j2", "p2", "req-7", "notify:webhook example.org/hook"),
    )


def test_an_event_a_function_gave_up_on_is_read_from_its_destination_record() -> None:
    from darkroom.adapters.sqs import _letter

    removed = {"Records": [s3_record("ObjectRemoved:Delete", "holiday/beach+1.jpg")]}
    record = {
        "version": "1.0",
        "timestamp": "2026-11-23T09:00:00.000Z",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": removed,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "cannot delete photo p1"},
    }
    body = json.dumps(record)
    assert events.messages(body) == (ObjectEvent("removed", "originals", "holiday/beach 1.jpg"),)
    letter = _letter({"MessageId": "m1", "Body": body})
    assert (letter.subject, letter.key) == ("holiday/beach 1.jpg", "holiday/beach 1.jpg")


def test_an_events_receives_before_a_worker_passed_it_on_are_counted() -> None:
    from darkroom.adapters.sqs import EARLIER_RECEIVES

    body = json.dumps({"Records": [s3_record("ObjectCreated:Put", "a.jpg")]})
    passed_on = sqs_record(body, receive_count="2")
    passed_on["messageAttributes"] = {
        EARLIER_RECEIVES: {"stringValue": "3", "dataType": "Number"},
    }
    passed, fresh = events.sqs_batch({"Records": [passed_on, sqs_record(body, "m2")]})
    assert not isinstance(passed, MalformedEvent) and passed.receive_count == 5
    assert not isinstance(fresh, MalformedEvent) and fresh.receive_count == 1


def test_each_record_of_a_notification_is_read_on_its_own() -> None:
    """A record without its key, one that is not an object, or a size that is not a number
    costs no other record."""
    body = json.dumps(
        {
            "Records": [
                {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"},
                "junk",
                s3_record("ObjectCreated:Put", "a.jpg", size="big"),
            ]
        }
    )
    (record,) = events.sqs_batch({"Records": [sqs_record(body)]})
    assert isinstance(record, events.QueuedRecord)
    no_key, junk, fine = record.messages
    assert isinstance(no_key, MalformedEvent) and "without bucket or key" in str(no_key)
    assert isinstance(junk, MalformedEvent) and "not an object" in str(junk)
    assert fine == ObjectEvent("created", "originals", "a.jpg")
    s3_event = {"Records": [json.loads(body)["Records"][i] for i in (0, 2)]}
    unread, read = events.direct(s3_event)
    assert isinstance(unread, MalformedEvent) and read == fine


EVENTBRIDGE = {
    "version": "0",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "detail": {
        "bucket": {"name": "originals"},
        "object": {"key": "Été 2026/a+b.jpg", "size": 5, "etag": "e", "sequencer": "0A"},
    },
}


def test_s3_events_through_eventbridge_keep_their_keys_as_they_are() -> None:
    created = ObjectEvent("created", "originals", "Été 2026/a+b.jpg", 5, "e", "0A")
    assert events.direct(EVENTBRIDGE) == [created]
    assert events.messages(json.dumps(EVENTBRIDGE)) == (created,)
    deleted = EVENTBRIDGE | {"detail-type": "Object Deleted"}
    assert events.direct(deleted) == [
        ObjectEvent("removed", "originals", "Été 2026/a+b.jpg", 5, "e", "0A")
    ]
    (other,) = events.direct(EVENTBRIDGE | {"detail-type": "Object Restore Completed"})
    assert isinstance(other, MalformedEvent)


def test_sns_messages_invoking_a_function_are_read_as_queue_messages() -> None:
    notification = json.dumps({"Records": [s3_record("ObjectCreated:Put", "IMG+%C3%A9.jpg")]})
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})
    event = {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Message": body}}
            for body in (notification, test_event, "not json")
        ]
    }
    created, unreadable = events.direct(event)
    assert created == ObjectEvent("created", "originals", "IMG é.jpg")
    assert isinstance(unreadable, MalformedEvent)


@pytest.mark.parametrize(
    "event",
    [[1, 2], "text", {"Records": {"a": 1}}, {"Records": ["x"]}, {"hello": "world"}],
)
def test_an_event_of_no_known_shape_is_one_malformed_event(event: Any) -> None:
    assert not events.is_sqs_batch(event) and not events.is_s3_event(event)
    (read,) = events.direct(event)
    assert isinstance(read, MalformedEvent)
