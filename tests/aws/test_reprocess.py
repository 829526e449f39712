"""`darkroom reprocess` against the AWS stack on moto's server: it queues its jobs on the
queue the processing function reads, and leaves them, and every other message, to it."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from darkroom.aws import handlers
from darkroom.cli import app
from darkroom.domain import PhotoStatus
from darkroom.services import reprocessing
from tests.aws.conftest import Stack
from tests.aws.lambda_events import answer_json, api_v2, sqs_event
from tests.corpus import corpus


def test_reprocess_leaves_the_queue_to_the_processing_function(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = stack.client("s3")
    body = corpus("S01_canon_sd300_2mp.jpg")
    s3.put_object(Bucket=stack.originals, Key="kept.jpg", Body=body, ContentType="image/jpeg")
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    # An upload made before the run, whose messages the processing function has in hand.
    content = base64.b64encode(corpus("W02_webp_tree_1024.webp")).decode()
    sent = json.dumps({"content": content, "key": "tree.webp"}).encode()
    uploaded = answer_json(handlers.api(api_v2("POST", "/upload?wait=false", sent), None))
    in_flight = stack.client("sqs").receive_message(
        QueueUrl=stack.queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=900,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    assert any("darkroom_job" in message["Body"] for message in in_flight)

    # New variant settings, deployed to the function and given to the command alike.
    monkeypatch.setenv("DARKROOM_VARIANTS", "thumb:100x100,big:2000")
    handlers.runtime.cache_clear()
    run_by_the_function: list[str] = []

    def the_function_runs_meanwhile(seconds: float) -> None:
        batch = stack.drain(stack.queue_url)
        run_by_the_function.extend(record["body"] for record in batch["Records"])
        assert handlers.process(batch, None) == {"batchItemFailures": []}

    monkeypatch.setattr(reprocessing, "_pause", the_function_runs_meanwhile)
    result = CliRunner().invoke(app, ["reprocess", "--wait", "60"])

    assert result.exit_code == 0, result.output
    assert "not done yet" not in result.output
    darkroom = handlers.runtime().darkroom
    kept = darkroom.catalog.get_by_key("kept.jpg")
    assert kept.status is PhotoStatus.READY and kept.recipe == darkroom.processor.recipe
    assert [v.name for v in kept.variants] == ["thumb", "big"]
    # its jobs, the upload's (queued again) too, all run by the function
    assert sorted(json.loads(b)["photo_id"] for b in run_by_the_function) == sorted(
        [kept.id, uploaded["id"]]
    )
    assert darkroom.catalog.get(uploaded["id"]).status is PhotoStatus.READY
    # and the messages it had in hand are still its own
    assert handlers.process(sqs_event(in_flight, stack.queue_arn), None) == {
        "batchItemFailures": []
    }


def test_reprocess_names_a_photo_whose_original_is_gone_and_queues_nothing_for_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its removal's event not handled yet: a job would leave the photo as it is, and the
    command waited for it until it gave up (all of `--wait`), calling it "not done yet"."""
    s3 = stack.client("s3")
    body = corpus("S01_canon_sd300_2mp.jpg")
    s3.put_object(Bucket=stack.originals, Key="gone.jpg", Body=body, ContentType="image/jpeg")
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    s3.delete_object(Bucket=stack.originals, Key="gone.jpg")
    monkeypatch.setenv("DARKROOM_VARIANTS", "thumb:100x100")
    handlers.runtime.cache_clear()
    monkeypatch.setattr(reprocessing, "_pause", lambda seconds: None)

    result = CliRunner().invoke(app, ["reprocess", "--wait", "5"])

    assert result.exit_code == 1, result.output
    photo = handlers.runtime().darkroom.catalog.get_by_key("gone.jpg")
    assert f"{photo.id} gone.jpg: its original is gone from the store" in result.output
    assert "not done yet" not in result.output
    assert stack.drain(stack.queue_url)["Records"] == []
