"""Copies of the same bytes on DynamoDB, whose index of digests (`gsi2`) is eventually
consistent: moto's answers from the table at once, so the lag is made here, by hiding
what the index would not show yet."""

from __future__ import annotations

import pytest

from darkroom.aws import handlers
from darkroom.domain import PhotoStatus
from darkroom.services.doctor import Finding, Problem
from tests.aws.conftest import Stack
from tests.corpus import corpus

PHOTO = "S01_canon_sd300_2mp.jpg"


def test_copies_processed_before_the_index_shows_either_keep_one(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = stack.client("s3")
    for key in ("first.jpg", "copy.jpg"):
        s3.put_object(Bucket=stack.originals, Key=key, Body=corpus(PHOTO), ContentType="image/jpeg")
    catalog = handlers.runtime().darkroom.catalog
    monkeypatch.setattr(catalog, "find_by_hash", lambda owner, sha256: [])

    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    first, copy = (catalog.get_by_key(key) for key in ("first.jpg", "copy.jpg"))
    assert first.status is PhotoStatus.READY
    assert copy.status is PhotoStatus.DUPLICATE and copy.duplicate_of == first.id
    assert stack.objects(stack.originals) == ["first.jpg"]
    assert all(key.startswith(f"{first.id}/") for key in stack.objects(stack.variants))

    monkeypatch.undo()
    assert handlers.runtime().darkroom.doctor().examine(grace=0) == []
    # the claim goes with the photo: the same bytes again are kept anew
    handlers.runtime().darkroom.gallery.delete(None, first.id)
    assert stack.items() == []
    s3.put_object(Bucket=stack.originals, Key="again.jpg", Body=corpus(PHOTO))
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    assert catalog.get_by_key("again.jpg").status is PhotoStatus.READY


def test_a_claim_on_bytes_the_deleted_photo_no_longer_had_is_released_by_doctor(
    stack: Stack,
) -> None:
    """Deleting a photo releases the claim on its current digest alone: one it made on its
    original's earlier bytes is left, for `doctor` to find and remove."""
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.originals, Key="first.jpg", Body=corpus(PHOTO))
    assert handlers.process(stack.drain(stack.queue_url), None) == {"batchItemFailures": []}
    darkroom = handlers.runtime().darkroom
    photo = darkroom.catalog.get_by_key("first.jpg")
    earlier = "ab" * 32
    assert darkroom.catalog.claim_bytes(photo.owner, earlier, photo.id) == photo.id
    darkroom.gallery.delete(None, photo.id)
    assert len(stack.items()) == 1

    doctor = darkroom.doctor()
    (finding,) = doctor.examine(grace=0)
    assert finding == Finding(Problem.LEFT_CLAIM, f"{photo.id}:{earlier}:{photo.owner}")
    doctor.repair(finding)
    assert stack.items() == []
    assert doctor.examine(grace=0) == []
