"""Share links on memory adapters: who may make them, how long they live, how they end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from darkroom.adapters.memory import MemoryShares
from darkroom.bootstrap import Darkroom
from darkroom.domain import Share
from darkroom.errors import BadRequest, Conflict, NotFound
from darkroom.services.sharing import Sharing
from darkroom.tokens import TokenCodec
from tests.corpus import corpus
from tests.unit.presigned import presigned

JPEG = "S01_canon_sd300_2mp.jpg"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shares() -> MemoryShares:
    return MemoryShares()


@pytest.fixture
def sharing(memory_darkroom: Darkroom, shares: MemoryShares, clock: Clock) -> Sharing:
    codec = TokenCodec(b"unit-test-secret-0123")
    return Sharing(memory_darkroom.gallery, shares, codec, max_ttl=3600, clock=clock)


def _photo(memory_darkroom: Darkroom, owner: str = "ann") -> str:
    """A photo stored and waiting for its processing."""
    return memory_darkroom.gallery.upload(owner, corpus(JPEG), "a.jpg").photo.id


def test_a_photo_with_nothing_to_show_is_not_shared(
    sharing: Sharing, memory_darkroom: Darkroom, shares: MemoryShares
) -> None:
    dr = memory_darkroom
    uploading = dr.gallery.start_upload("ann", "a.jpg", "image/jpeg", None, "").photo
    failed = dr.gallery.upload("ann", corpus(JPEG)[:5000], "half.jpg").photo
    first = _photo(dr)
    copy = presigned(dr, "ann", "copy.jpg", corpus(JPEG))
    dr.worker().drain()
    for photo_id, why in (
        (uploading.id, "not been uploaded"),
        (failed.id, "could not be processed"),
        (copy.id, f"copy of photo {first}"),
    ):
        with pytest.raises(Conflict, match=why):
            sharing.create("ann", photo_id, None)
        assert shares.of_photo(photo_id) == []
    sharing.create("ann", first, None)


def test_a_link_to_a_photo_found_to_be_a_copy_shows_the_photo_it_copies(
    sharing: Sharing, memory_darkroom: Darkroom
) -> None:
    dr = memory_darkroom
    first = _photo(dr)
    dr.worker().drain()
    copy = presigned(dr, "ann", "copy.jpg", corpus(JPEG))
    _, token = sharing.create("ann", copy.id, None)  # still to be processed: allowed
    dr.worker().drain()
    shown = sharing.open(token)
    assert shown.id == first and len(shown.variants) == len(dr.settings.variant_specs())
    dr.gallery.delete("ann", first)
    with pytest.raises(NotFound):
        sharing.open(token)


def test_a_link_shows_its_photo_until_it_expires(
    sharing: Sharing, memory_darkroom: Darkroom, clock: Clock
) -> None:
    photo_id = _photo(memory_darkroom)
    share, token = sharing.create("ann", photo_id, 60)
    assert sharing.open(token).id == photo_id
    assert sharing.of_photo("ann", photo_id) == [share]
    clock.now += timedelta(seconds=61)
    with pytest.raises(NotFound):
        sharing.open(token)
    assert sharing.of_photo("ann", photo_id) == []


def test_only_the_owner_makes_and_revokes_links(
    sharing: Sharing, memory_darkroom: Darkroom
) -> None:
    photo_id = _photo(memory_darkroom)
    with pytest.raises(NotFound):
        sharing.create("bob", photo_id, None)
    share, token = sharing.create("ann", photo_id, None)
    assert share.expires_at - share.created_at == timedelta(seconds=3600)
    with pytest.raises(NotFound):
        sharing.revoke("bob", photo_id, share.id)
    for ttl in (59, 3601):
        with pytest.raises(BadRequest):
            sharing.create("ann", photo_id, ttl)
    sharing.revoke("ann", photo_id, share.id)
    with pytest.raises(NotFound):
        sharing.open(token)


def test_deleting_the_photo_ends_its_links(
    sharing: Sharing, memory_darkroom: Darkroom, shares: MemoryShares
) -> None:
    photo_id = _photo(memory_darkroom)
    _, token = sharing.create("ann", photo_id, None)
    memory_darkroom.gallery.delete("ann", photo_id)
    with pytest.raises(NotFound):
        sharing.open(token)
    sharing.forget(photo_id)
    assert shares.of_photo(photo_id) == []


def test_a_link_made_as_its_photo_is_deleted_is_not_kept(
    sharing: Sharing, memory_darkroom: Darkroom, shares: MemoryShares
) -> None:
    dr = memory_darkroom
    photo_id = _photo(dr)
    real_add = shares.add

    def deleted_meanwhile(share: Share) -> None:
        # The deletion ran between the check of the photo and the share's write.
        dr.gallery.delete("ann", photo_id)
        sharing.forget(photo_id)
        real_add(share)

    shares.add = deleted_meanwhile  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        sharing.create("ann", photo_id, None)
    assert shares.of_photo(photo_id) == []
