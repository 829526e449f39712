"""The Lambda functions end to end on moto's server: presigned upload → S3 notification →
SQS → `process` → variants, record and SNS message; delete through `api` → S3 removal →
`cleanup` → nothing left. API Gateway events of both payload versions drive `api`."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from hashlib import sha256

import httpx
import pytest

from darkroom.adapters.cognito import CognitoIdentity
from darkroom.aws import handlers
from darkroom.domain import JobState, PhotoStatus
from darkroom.errors import NotFound
from tests.aws.conftest import Stack
from tests.aws.lambda_events import answer_json, api_v1, api_v2
from tests.aws.servers import new_user_pool
from tests.corpus import corpus

PHOTO = "S01_canon_sd300_2mp.jpg"


def test_a_presigned_upload_is_processed_and_a_delete_leaves_nothing(stack: Stack) -> None:
    data = corpus(PHOTO)
    request = {"filename": "Canon shot.jpg", "content_type": "image/jpeg", "size": len(data)}
    answer = handlers.api(api_v2("POST", "/uploads", json.dumps(request).encode()), None)
    assert answer["statusCode"] == 201, answer
    ticket = answer_json(answer)
    assert ticket["method"] == "POST" and ticket["fields"]["key"] == ticket["key"]
    sent = httpx.post(
        ticket["url"],
        data=ticket["fields"],
        files={"file": ("Canon shot.jpg", data, "image/jpeg")},
        timeout=30,
    )
    assert sent.is_success, sent.text
    assert stack.objects(stack.originals) == [ticket["key"]]

    batch = stack.drain(stack.queue_url, stack.queue_arn)
    bodies = [json.loads(record["body"]) for record in batch["Records"]]
    assert {"s3:TestEvent"} <= {b.get("Event") for b in bodies}
    assert any("Records" in b for b in bodies)
    assert handlers.process(batch, None) == {"batchItemFailures": []}

    photo = answer_json(handlers.api(api_v1("GET", f"/photos/{ticket['id']}"), None))
    assert photo["status"] == "ready" and photo["filename"] == "Canon shot.jpg"
    assert (photo["width"], photo["height"]) == (1600, 1200)
    variant_keys = sorted(stack.objects(stack.variants))
    assert len(variant_keys) == len(photo["variants"]) == 6
    assert all(key.startswith(f"{ticket['id']}/") for key in variant_keys)
    thumb = httpx.get(photo["variants"]["thumb"]["url"], timeout=10)
    assert thumb.is_success and thumb.content.startswith(b"\xff\xd8")
    keeper = f"KEEPER#local#{sha256(data).hexdigest()}"
    assert stack.items() == sorted([f"PHOTO#{ticket['id']}", f"KEY#{ticket['key']}", keeper])

    told = stack.client("sqs").receive_message(QueueUrl=stack.inbox_url)["Messages"]
    message = json.loads(told[0]["Body"])
    assert message["event"] == "photo.ready" and message["id"] == ticket["id"]
    assert set(message["variants"]) == set(photo["variants"])

    again = handlers.process(batch, None)
    assert again == {"batchItemFailures": []}
    assert sorted(stack.objects(stack.variants)) == variant_keys

    deleted = handlers.api(api_v2("DELETE", f"/photos/{ticket['id']}"), None)
    assert deleted["statusCode"] in (200, 204), deleted
    removals = stack.drain(stack.removals_url)
    assert removals["Records"], "moto sent no ObjectRemoved notification"
    assert handlers.cleanup(removals, None) == {"batchItemFailures": []}
    assert stack.objects(stack.originals) == []
    assert stack.objects(stack.variants) == []
    assert stack.items() == []
    gone = handlers.api(api_v1("GET", f"/photos/{ticket['id']}"), None)
    assert gone["statusCode"] == 404


def test_a_photo_dropped_in_the_bucket_is_adopted_from_a_direct_s3_event(stack: Stack) -> None:
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=stack.originals,
        Key="Holiday 2026/IMG 0001.jpg",
        Body=corpus(PHOTO),
        ContentType="image/jpeg",
    )
    batch = stack.drain(stack.queue_url)
    s3_events = [json.loads(r["body"]) for r in batch["Records"]]
    direct = next(e for e in s3_events if "Records" in e)
    assert direct["Records"][0]["s3"]["object"]["key"] != "Holiday 2026/IMG 0001.jpg"
    assert handlers.process(direct, None) == {}
    listed = answer_json(handlers.api(api_v2("GET", "/photos"), None))
    (photo,) = listed["items"]
    assert photo["key"] == "Holiday 2026/IMG 0001.jpg" and photo["filename"] == "IMG 0001.jpg"
    assert photo["status"] == "ready" and len(photo["variants"]) == 6


def test_a_photo_dropped_in_the_bucket_goes_to_the_account_the_stack_names(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool_id, client_id = new_user_pool()
    pool = f"cognito://{pool_id}?client_id={client_id}&endpoint_url={stack.endpoint}"
    identity = CognitoIdentity.from_url(pool)
    identity.sign_up("ann@example.org", "Pool password 1")
    identity.verify("ann@example.org", "123456")
    token = identity.sign_in("ann@example.org", "Pool password 1").access_token
    monkeypatch.setenv("DARKROOM_AUTH", pool)
    monkeypatch.setenv("DARKROOM_DROPPED_OWNER", "Ann@example.org")
    handlers.runtime.cache_clear()
    handlers._asgi.cache_clear()
    stack.client("s3").put_object(Bucket=stack.originals, Key="IMG 0002.jpg", Body=corpus(PHOTO))
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    photo = handlers.runtime().darkroom.catalog.get_by_key("IMG 0002.jpg")
    assert photo.owner == identity.authenticate(token)
    as_ann = api_v2("GET", "/photos")
    as_ann["headers"]["authorization"] = f"Bearer {token}"
    (listed,) = answer_json(handlers.api(as_ann, None))["items"]
    assert listed["id"] == photo.id and listed["status"] == "ready"

    # an address with no account: the event comes back (and at last dead-letters); nothing
    # is adopted for the wrong user
    monkeypatch.setenv("DARKROOM_DROPPED_OWNER", "nobody@example.org")
    handlers.runtime.cache_clear()
    stack.client("s3").put_object(Bucket=stack.originals, Key="IMG 0003.jpg", Body=corpus(PHOTO))
    batch = stack.drain(stack.queue_url)
    created = [r for r in batch["Records"] if "Records" in json.loads(r["body"])]
    failed = handlers.process(batch, None)["batchItemFailures"]
    assert failed == [{"itemIdentifier": record["messageId"]} for record in created]
    with pytest.raises(NotFound):
        handlers.runtime().darkroom.catalog.get_by_key("IMG 0003.jpg")


def test_a_bad_image_fails_once_and_is_not_retried(stack: Stack) -> None:
    stack.client("s3").put_object(
        Bucket=stack.originals, Key="broken.jpg", Body=b"\xff\xd8\xff" + b"\0" * 500
    )
    batch = stack.drain(stack.queue_url)
    assert handlers.process(batch, None) == {"batchItemFailures": []}
    (photo,) = answer_json(handlers.api(api_v2("GET", "/photos"), None))["items"]
    assert photo["status"] == "failed" and photo["reason"]
    told = stack.client("sqs").receive_message(QueueUrl=stack.inbox_url)["Messages"]
    assert json.loads(told[0]["Body"])["event"] == "photo.failed"


def test_a_direct_upload_through_the_api_is_processed_once(stack: Stack) -> None:
    content = base64.b64encode(corpus(PHOTO)).decode()
    body = json.dumps({"content": content, "key": "a.jpg"}).encode()
    answer = handlers.api(api_v2("POST", "/upload?wait=false", body), None)
    assert answer["statusCode"] in (201, 202), answer
    photo_id = answer_json(answer)["id"]
    batch = stack.drain(stack.queue_url)
    kinds = sorted("darkroom_job" in json.loads(r["body"]) for r in batch["Records"])
    assert kinds.count(True) == 1 and kinds.count(False) >= 1
    assert handlers.process(batch, None) == {"batchItemFailures": []}
    photo = answer_json(handlers.api(api_v2("GET", f"/photos/{photo_id}"), None))
    assert photo["status"] == "ready"
    jobs = handlers.runtime().darkroom.queue.jobs(frozenset(JobState))
    assert [job.state.value for job in jobs] == ["done"]


def test_the_api_function_answers_in_gzip_to_a_client_that_takes_it(stack: Stack) -> None:
    """API Gateway and CloudFront (caching disabled) pass the answer on as it is: base64 of
    the gzip, with its Content-Encoding."""
    for name in (PHOTO, "W02_webp_tree_1024.webp", "G02_anim_300.gif"):  # long enough to gzip
        content = base64.b64encode(corpus(name)).decode()
        body = json.dumps({"content": content, "key": name}).encode()
        assert handlers.api(api_v2("POST", "/upload?wait=false", body), None)["statusCode"] == 202
    asked = api_v2("GET", "/photos")
    plain = handlers.api(asked, None)
    asked["headers"]["accept-encoding"] = "gzip, deflate, br"
    compressed = handlers.api(asked, None)
    assert compressed["statusCode"] == 200 and compressed["isBase64Encoded"]
    assert compressed["headers"]["content-encoding"] == "gzip"
    unpacked = gzip.decompress(base64.b64decode(compressed["body"]))
    assert json.loads(unpacked) == answer_json(plain)


def test_only_transient_failures_come_back(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.client("s3").put_object(
        Bucket=stack.originals, Key="fine.jpg", Body=corpus(PHOTO), ContentType="image/jpeg"
    )
    batch = stack.drain(stack.queue_url)
    created = next(r for r in batch["Records"] if "Records" in json.loads(r["body"]))
    garbage = created | {"messageId": "garbage", "body": "not json"}
    monkeypatch.setenv("DARKROOM_CATALOG", "dynamodb://no-such-table")
    handlers.runtime.cache_clear()
    answer = handlers.process({"Records": [created, garbage]}, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": created["messageId"]}]}


def _failing_job(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> tuple[str, Callable[[int], bool]]:
    """A photo uploaded through the API whose processing raises `error`, and what hands its
    job's SQS record to `process` as received that many times: True if it comes back."""
    body = json.dumps({"content": base64.b64encode(corpus(PHOTO)).decode(), "key": "a.jpg"})
    answer = handlers.api(api_v2("POST", "/upload?wait=false", body.encode()), None)
    batch = stack.drain(stack.queue_url)
    job = next(r for r in batch["Records"] if "darkroom_job" in json.loads(r["body"]))

    def raising(photo_id: str) -> object:
        raise error

    monkeypatch.setattr(handlers.runtime().darkroom.processor, "process", raising)

    def receive(times: int) -> bool:
        record = job | {"attributes": {"ApproximateReceiveCount": str(times)}}
        failures = handlers.process({"Records": [record]}, None)["batchItemFailures"]
        return bool(failures == [{"itemIdentifier": job["messageId"]}])

    return answer_json(answer)["id"], receive


def test_the_last_attempt_records_the_failure_and_the_message_goes_on(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo_id, receive = _failing_job(stack, monkeypatch, ConnectionError("the store is away"))
    catalog = handlers.runtime().darkroom.catalog
    assert receive(4)
    assert catalog.get(photo_id).status is PhotoStatus.PENDING
    assert receive(5)
    failed = catalog.get(photo_id)
    assert failed.status is PhotoStatus.FAILED
    assert failed.reason == "gave up after 5 attempts: the store is away"
    # the receive the queue allows beyond the attempts keeps the reason already recorded
    assert receive(6)
    assert catalog.get(photo_id).reason == failed.reason


def test_a_photo_whose_every_attempt_stopped_the_runtime_ends_failed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five invocations ran out of time or memory on it, and none could say so: the sixth
    receive records it without rendering again, and the job is dead."""
    rendered = AssertionError("rendered again after the attempts ran out")
    photo_id, receive = _failing_job(stack, monkeypatch, rendered)
    dr = handlers.runtime().darkroom
    assert receive(6)
    failed = dr.catalog.get(photo_id)
    assert failed.status is PhotoStatus.FAILED
    assert failed.reason == "gave up after 5 attempts: every attempt stopped its worker"
    assert [j.state for j in dr.queue.jobs(frozenset(JobState))] == [JobState.DEAD]
    told = stack.client("sqs").receive_message(QueueUrl=stack.inbox_url)["Messages"]
    assert json.loads(told[0]["Body"])["event"] == "photo.failed"


def test_share_links_through_the_api_function(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DARKROOM_SECRET", "stack-signing-secret-0123456789")
    handlers.runtime.cache_clear()
    handlers._asgi.cache_clear()
    body = json.dumps({"content": base64.b64encode(corpus(PHOTO)).decode(), "key": "a.jpg"})
    uploaded = handlers.api(api_v2("POST", "/upload?wait=false", body.encode()), None)
    photo_id = answer_json(uploaded)["id"]
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}

    made = handlers.api(api_v2("POST", f"/photos/{photo_id}/shares", b"{}"), None)
    assert made["statusCode"] == 201, made
    share = answer_json(made)
    token = share["url"].split("#shared=", 1)[1]
    assert any(item.startswith("SHARE#") for item in stack.items())
    # another container, with the same secret from the stack, opens the link
    handlers.runtime.cache_clear()
    handlers._asgi.cache_clear()
    shown = answer_json(handlers.api(api_v2("GET", f"/shared/{token}"), None))
    assert shown["filename"] == "a.jpg" and shown["variants"]["w320"]["url"]
    listed = answer_json(handlers.api(api_v2("GET", f"/photos/{photo_id}/shares"), None))
    assert [s["id"] for s in listed] == [share["id"]]
    revoked = handlers.api(api_v2("DELETE", f"/photos/{photo_id}/shares/{share['id']}"), None)
    assert revoked["statusCode"] == 204
    assert handlers.api(api_v2("GET", f"/shared/{token}"), None)["statusCode"] == 404


def test_a_late_event_for_a_duplicate_leaves_it_a_duplicate(stack: Stack) -> None:
    s3 = stack.client("s3")
    for key in ("first.jpg", "copy.jpg"):
        s3.put_object(Bucket=stack.originals, Key=key, Body=corpus(PHOTO), ContentType="image/jpeg")
        batch = stack.drain(stack.queue_url)
        assert handlers.process(batch, None) == {"batchItemFailures": []}
    catalog = handlers.runtime().darkroom.catalog
    copy = catalog.get_by_key("copy.jpg")
    assert copy.status is PhotoStatus.DUPLICATE and stack.objects(stack.originals) == ["first.jpg"]
    stack.drain(stack.inbox_url)

    assert handlers.process(batch, None) == {"batchItemFailures": []}  # S3 sends it again
    assert catalog.get(copy.id).status is PhotoStatus.DUPLICATE
    assert stack.drain(stack.inbox_url)["Records"] == []


def test_a_duplicate_keeps_its_record_after_the_removal_of_its_original(stack: Stack) -> None:
    s3 = stack.client("s3")
    for key in ("first.jpg", "copy.jpg"):
        s3.put_object(Bucket=stack.originals, Key=key, Body=corpus(PHOTO), ContentType="image/jpeg")
        assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    copy = handlers.runtime().darkroom.catalog.get_by_key("copy.jpg")
    assert copy.status is PhotoStatus.DUPLICATE
    removals = stack.drain(stack.removals_url)
    assert removals["Records"], "moto sent no ObjectRemoved notification"
    assert handlers.cleanup(removals, None) == {"batchItemFailures": []}
    shown = answer_json(handlers.api(api_v2("GET", f"/photos/{copy.id}"), None))
    assert shown["status"] == "duplicate" and shown["duplicate_of"] == copy.duplicate_of

    # the photo it copies takes it along
    first = handlers.api(api_v2("DELETE", f"/photos/{copy.duplicate_of}"), None)
    assert first["statusCode"] in (200, 204), first
    assert handlers.cleanup(stack.drain(stack.removals_url), None) == {"batchItemFailures": []}
    assert stack.items() == [] and stack.objects(stack.originals) == []


def test_a_removal_the_cleanup_function_gave_up_on_is_carried_out_when_sent_back(
    stack: Stack,
) -> None:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.originals, Key="gone.jpg", Body=corpus(PHOTO))
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    assert stack.objects(stack.variants)
    s3.delete_object(Bucket=stack.originals, Key="gone.jpg")
    removals = stack.drain(stack.removals_url)["Records"]
    (removal,) = [r for r in removals if "Records" in json.loads(r["body"])]
    # What Lambda's on-failure destination keeps of S3's invocation, which `darkroom jobs
    # retry` sends back to the jobs queue as it is.
    record = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": json.loads(removal["body"]),
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "cannot delete photo"},
    }
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(record))
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    assert stack.items() == [] and stack.objects(stack.variants) == []


def test_a_worker_polling_the_queue_uses_up_none_of_an_events_attempts(stack: Stack) -> None:
    """A worker polling the jobs queue (`darkroom process`) receives its S3 events too, once
    a second while idle: the processing function still processes the photo after five."""
    stack.client("s3").put_object(Bucket=stack.originals, Key="polled.jpg", Body=corpus(PHOTO))
    queue = handlers.runtime().darkroom.queue
    for _ in range(5):
        assert queue.claim("worker", 60) is None
    batch = stack.drain(stack.queue_url)
    assert handlers.process(batch, None) == {"batchItemFailures": []}
    photo = handlers.runtime().darkroom.catalog.get_by_key("polled.jpg")
    assert photo.status is PhotoStatus.READY, photo.reason
