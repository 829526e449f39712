"""The Catalog contract, over the memory adapter and SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from darkroom.adapters.memory import MemoryCatalog
from darkroom.adapters.sql import SqlCatalog, SqlDatabase
from darkroom.domain import Claim, Photo, PhotoStatus, Variant
from darkroom.errors import BadRequest, Conflict, NotFound, Unavailable
from darkroom.ports import Catalog

NOW = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def catalog(database: SqlDatabase | None) -> Catalog:
    return MemoryCatalog() if database is None else SqlCatalog(database)


def claims(catalog: Catalog) -> list[Claim]:
    return [read for read in catalog.every_with_claims() if isinstance(read, Claim)]


def make(photo_id: str, owner: str = "ann", created_at: datetime = NOW) -> Photo:
    return Photo(photo_id, owner, f"1764000000000_{photo_id}.jpg", "a.jpg", created_at, created_at)


def test_every_field_survives_the_round_trip(catalog: Catalog) -> None:
    tokyo = timezone(timedelta(hours=9))
    photo = Photo(
        "p1",
        "ann",
        "1764000000000_p1.jpg",
        "Été à Kyōto.jpg",
        NOW.astimezone(tokyo),
        NOW + timedelta(seconds=1, microseconds=7),
        description="Ünïcødé — 東京の夜 🌸\nsecond line",
        status=PhotoStatus.READY,
        reason="",
        content_type="image/jpeg",
        size=5_000_000_000,
        sha256="ab" * 32,
        width=4000,
        height=3000,
        variants=(
            Variant("thumb", "p1/thumb-0123.jpg", 100, 75, "image/jpeg", 3210),
            Variant("w640", "p1/w640-4567.webp", 640, 480, "image/webp", 45678),
        ),
        metadata={"camera": "Fujifilm X-T5 ✓", "iso": 3200, "exposure": 0.004, "f": 2.8},
        duplicate_of="p0",
        recipe="0123456789abcdef",
        blurhash="LSHLJVAV}TO@*I^kXm$%^+-qoz$$",
    )
    catalog.add(photo)
    for found in (catalog.get("p1"), catalog.get_by_key(photo.key)):
        assert found == photo
        assert found.created_at.utcoffset() is not None
        assert found.updated_at - found.created_at == timedelta(seconds=1, microseconds=7)


def test_unknown_ids_and_keys_are_not_found(catalog: Catalog) -> None:
    catalog.add(make("p1"))
    with pytest.raises(NotFound):
        catalog.get("p2")
    with pytest.raises(NotFound):
        catalog.get_by_key("1764000000000_p2.jpg")


def test_get_many_reads_the_photos_there_and_leaves_out_the_others(catalog: Catalog) -> None:
    """Past a hundred ids too: a DynamoDB BatchGetItem takes a hundred keys at most."""
    ids = [f"p{n:03d}" for n in range(150)]
    for photo_id in ids[::2]:
        catalog.add(make(photo_id, owner="ann" if photo_id < "p100" else "bob"))
    catalog.update(catalog.get("p004").evolve(status=PhotoStatus.FAILED, reason="broken"))
    asked = [*ids, "p000", "never-there", ""]
    found = catalog.get_many(asked)
    assert sorted(found) == ids[::2]
    assert all(found[i] == catalog.get(i) for i in found)
    assert (found["p004"].status, found["p004"].reason) == (PhotoStatus.FAILED, "broken")
    assert found["p148"].owner == "bob"
    assert catalog.get_many([]) == {}
    assert catalog.get_many(["p001", "p003"]) == {}


def test_a_taken_id_or_key_is_a_conflict(catalog: Catalog) -> None:
    first = make("p1")
    catalog.add(first)
    with pytest.raises(Conflict):
        catalog.add(make("p1").evolve(key="other.jpg", description="again"))
    with pytest.raises(Conflict):
        catalog.add(make("p2").evolve(key=first.key))
    assert catalog.get("p1") == first
    with pytest.raises(NotFound):
        catalog.get("p2")


def test_keys_differing_only_in_case_are_different_photos(catalog: Catalog) -> None:
    catalog.add(make("p1").evolve(key="photos/IMG.jpg"))
    catalog.add(make("p2").evolve(key="photos/img.jpg"))
    assert catalog.get_by_key("photos/img.jpg").id == "p2"


def test_update_is_conditional_on_the_version(catalog: Catalog) -> None:
    photo = make("p1")
    catalog.add(photo)
    ready = catalog.update(photo.evolve(status=PhotoStatus.READY, width=10))
    assert ready.version == 2 and ready.status is PhotoStatus.READY
    assert catalog.get("p1") == ready
    with pytest.raises(Conflict):
        catalog.update(photo.evolve(description="stale"))
    assert catalog.get("p1") == ready
    assert catalog.update(ready.evolve(description="fresh")).version == 3


def test_update_of_a_deleted_photo_is_not_found(catalog: Catalog) -> None:
    photo = make("p1")
    catalog.add(photo)
    catalog.delete("p1")
    with pytest.raises(NotFound):
        catalog.update(photo)


def test_delete_is_idempotent(catalog: Catalog) -> None:
    catalog.add(make("p1"))
    catalog.delete("p1")
    catalog.delete("p1")
    catalog.delete("never-there")
    with pytest.raises(NotFound):
        catalog.get("p1")
    catalog.add(make("p1"))
    assert catalog.get("p1").version == 1


def test_list_pages_newest_first_and_breaks_ties_by_id(catalog: Catalog) -> None:
    photos = [make(f"p{i:02d}") for i in range(12)]
    photos += [make(f"q{i:02d}", created_at=NOW - timedelta(minutes=i)) for i in range(1, 9)]
    photos += [make(f"r{i:02d}", created_at=NOW + timedelta(microseconds=i)) for i in range(3)]
    for photo in reversed(photos):
        catalog.add(photo)
    expected = sorted(photos, key=lambda p: (p.created_at, p.id), reverse=True)
    seen: list[Photo] = []
    cursor: str | None = None
    for _ in range(10):
        page = catalog.list("ann", 5, cursor)
        seen.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break
        assert len(page.items) == 5
    assert [p.id for p in seen] == [p.id for p in expected]
    assert seen == expected


def test_list_filters_by_owner(catalog: Catalog) -> None:
    for i in range(6):
        catalog.add(make(f"p{i}", owner="ann" if i % 2 else "bob", created_at=NOW + timedelta(i)))
    assert [p.id for p in catalog.list("ann", 10).items] == ["p5", "p3", "p1"]
    assert [p.id for p in catalog.list("bob", 10).items] == ["p4", "p2", "p0"]
    assert catalog.list("cat", 10).items == ()


def test_every_reads_everyones_photos_once(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQL's pages made small, for a pass over several of them without adding hundreds of
    # photos (half a minute of moto's DynamoDB transactions).
    monkeypatch.setattr("darkroom.adapters.sql._EVERY_PAGE", 20)
    assert list(catalog.every()) == []
    added = [make(f"p{i:04}", owner=f"o{i % 3}", created_at=NOW + timedelta(i)) for i in range(51)]
    for photo in added:
        catalog.add(photo)
    catalog.delete("p0007")
    got = list(catalog.every())
    assert len(got) == 50 and {p.id for p in got} == {p.id for p in added} - {"p0007"}
    assert sorted(got, key=lambda p: p.id) == [p for p in added if p.id != "p0007"]


def test_find_by_hash_is_per_owner_and_oldest_first(catalog: Catalog) -> None:
    digest = "cd" * 32
    catalog.add(make("late", created_at=NOW + timedelta(hours=1)).evolve(sha256=digest))
    catalog.add(make("early").evolve(sha256=digest))
    catalog.add(make("tie", created_at=NOW).evolve(sha256=digest))
    catalog.add(make("bobs", owner="bob").evolve(sha256=digest))
    catalog.add(make("other").evolve(sha256="ef" * 32))
    assert [p.id for p in catalog.find_by_hash("ann", digest)] == ["early", "tie", "late"]
    assert [p.id for p in catalog.find_by_hash("bob", digest)] == ["bobs"]
    assert catalog.find_by_hash("ann", "00" * 32) == []


def test_find_by_hash_finds_a_duplicate_once_it_is_marked(catalog: Catalog) -> None:
    digest = "cd" * 32
    catalog.add(make("first").evolve(sha256=digest, status=PhotoStatus.READY))
    copy = make("copy", created_at=NOW + timedelta(minutes=1))
    catalog.add(copy)
    assert [p.id for p in catalog.find_by_hash("ann", digest)] == ["first"]
    catalog.update(copy.evolve(sha256=digest, status=PhotoStatus.DUPLICATE, duplicate_of="first"))
    found = catalog.find_by_hash("ann", digest)
    assert [(p.id, p.status, p.duplicate_of) for p in found] == [
        ("first", PhotoStatus.READY, ""),
        ("copy", PhotoStatus.DUPLICATE, "first"),
    ]


def test_photos_are_counted_by_status(catalog: Catalog) -> None:
    assert catalog.count_by_status() == {}
    statuses = [PhotoStatus.READY] * 3 + [PhotoStatus.FAILED, PhotoStatus.UPLOADING]
    for index, status in enumerate(statuses):
        catalog.add(make(f"p{index}", owner="ann" if index % 2 else "bob").evolve(status=status))
    assert catalog.count_by_status() == {"ready": 3, "failed": 1, "uploading": 1}
    catalog.delete("p0")
    assert catalog.count_by_status() == {"ready": 2, "failed": 1, "uploading": 1}


def test_sql_returns_datetimes_in_utc(sql_database: SqlDatabase) -> None:
    catalog = SqlCatalog(sql_database)
    catalog.add(make("p1", created_at=NOW.astimezone(timezone(timedelta(hours=-7)))))
    assert catalog.get("p1").created_at.tzinfo == UTC


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGEgY3Vyc29y", "MjAyNi0xMS0yM3xwMQ"])
def test_sql_refuses_a_cursor_it_did_not_give_out(sql_database: SqlDatabase, cursor: str) -> None:
    with pytest.raises(BadRequest):
        SqlCatalog(sql_database).list("ann", 10, cursor)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("postgresql://postgres:s3cret-pw@127.0.0.1:1/darkroom_test", "PostgreSQL"),
        ("mysql://root:s3cret-pw@127.0.0.1:1/darkroom_test", "MySQL/MariaDB"),
    ],
)
def test_a_server_that_does_not_answer_is_unavailable(url: str, backend: str) -> None:
    db = SqlDatabase(url)
    with pytest.raises(Unavailable) as raised:
        SqlCatalog(db).get("p1")
    assert backend in str(raised.value) and "127.0.0.1:1" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    db.close()


def test_of_photos_claiming_the_same_bytes_the_first_keeps_them(catalog: Catalog) -> None:
    digest = "cd" * 32
    assert catalog.claim_bytes("ann", digest, "first") == "first"
    assert catalog.claim_bytes("ann", digest, "second") == "first"
    assert catalog.claim_bytes("ann", digest, "first") == "first"
    assert catalog.claim_bytes("bob", digest, "bobs") == "bobs"
    assert catalog.claim_bytes("ann", "ef" * 32, "other") == "other"


def test_a_claim_passes_on_only_from_the_photo_named(catalog: Catalog) -> None:
    digest = "cd" * 32
    catalog.claim_bytes("ann", digest, "first")
    assert catalog.claim_bytes("ann", digest, "third", replacing="second") == "first"
    assert catalog.claim_bytes("ann", digest, "second", replacing="first") == "second"
    assert catalog.claim_bytes("ann", digest, "third", replacing="first") == "second"


def test_of_photos_claiming_at_once_exactly_one_wins(catalog: Catalog) -> None:
    digest = "cd" * 32
    claimants = [f"p{i}" for i in range(8)]
    start = threading.Barrier(len(claimants))

    def claim(photo_id: str) -> str:
        start.wait()
        return catalog.claim_bytes("ann", digest, photo_id)

    with ThreadPoolExecutor(len(claimants)) as pool:
        keepers = set(pool.map(claim, claimants))
    assert len(keepers) == 1 and keepers <= set(claimants)


def test_deleting_the_photo_that_keeps_bytes_releases_them(catalog: Catalog) -> None:
    digest = "cd" * 32
    catalog.add(make("first").evolve(sha256=digest, status=PhotoStatus.READY))
    catalog.add(make("copy").evolve(sha256=digest, status=PhotoStatus.DUPLICATE))
    assert catalog.claim_bytes("ann", digest, "first") == "first"
    catalog.delete("copy")
    assert catalog.claim_bytes("ann", digest, "later") == "first"
    catalog.delete("first")
    assert catalog.claim_bytes("ann", digest, "later") == "later"
    assert [p.id for p in catalog.every()] == []
    assert catalog.count_by_status() == {}


def test_a_claim_made_for_a_photo_deleted_before_is_listed_and_released(
    catalog: Catalog,
) -> None:
    """Processing that read a photo before its deletion claims its bytes after: the claim
    names a photo that is gone, for `doctor` to find and release."""
    digest = "cd" * 32
    catalog.add(make("gone").evolve(sha256=digest))
    catalog.delete("gone")
    assert catalog.claim_bytes("ann#1:x", digest, "gone") == "gone"
    assert catalog.claim_bytes("bob", digest, "kept") == "kept"
    gone, kept = Claim("ann#1:x", digest, "gone"), Claim("bob", digest, "kept")
    assert sorted(claims(catalog), key=str) == [gone, kept]
    catalog.release(Claim("ann#1:x", digest, "other"))
    assert sorted(claims(catalog), key=str) == [gone, kept]
    catalog.release(gone)
    catalog.release(gone)
    assert claims(catalog) == [kept]
    assert catalog.claim_bytes("ann#1:x", digest, "later") == "later"


def test_every_photo_and_claim_is_read_once_across_pages(
    sql_database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("darkroom.adapters.sql._EVERY_PAGE", 2)
    catalog = SqlCatalog(sql_database)
    catalog.add(make("p1"))
    made = {Claim(owner, f"{n:064x}", f"p{owner}{n}") for owner in ("ann", "bob") for n in range(3)}
    for claim in made:
        catalog.claim_bytes(claim.owner, claim.sha256, claim.photo_id)
    listed = claims(catalog)
    assert len(listed) == len(made) and set(listed) == made
