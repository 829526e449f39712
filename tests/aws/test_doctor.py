"""`doctor` on the AWS stack, with jobs an older version recorded in the ledger."""

from __future__ import annotations

from darkroom.aws import handlers
from darkroom.domain import JobState, PhotoStatus
from tests.aws.conftest import Stack
from tests.corpus import corpus


def test_a_photo_whose_job_an_older_version_recorded_is_not_queued_again(stack: Stack) -> None:
    darkroom = handlers.runtime().darkroom
    photo = darkroom.gallery.upload("ann", corpus("S01_canon_sd300_2mp.jpg"), "a.jpg").photo
    (job,) = darkroom.queue.jobs(frozenset({JobState.QUEUED}))
    assert job.photo_id == photo.id and darkroom.catalog.get(photo.id).status is PhotoStatus.PENDING
    # Versions before the ledger's index by photo wrote neither its keys nor the kind.
    stack.client("dynamodb").update_item(
        TableName=stack.table,
        Key={"pk": {"S": f"JOB#{job.id}"}},
        UpdateExpression="REMOVE gsi2pk, gsi2sk, kind",
    )

    doctor = darkroom.doctor()
    assert doctor.examine(grace=0) == []
    event = stack.drain(stack.queue_url)
    assert len([r for r in event["Records"] if "darkroom_job" in r["body"]]) == 1
    assert handlers.process(event, None) == {"batchItemFailures": []}
    assert darkroom.catalog.get(photo.id).status is PhotoStatus.READY
    assert darkroom.queue.jobs(frozenset({JobState.QUEUED, JobState.RUNNING})) == []
