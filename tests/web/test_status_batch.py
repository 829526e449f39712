"""`GET /photos/status?ids=…`: the status of many photos in one request and one catalog
read, the caller's photos only, bounded in size."""

from __future__ import annotations

import base64
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from darkroom.bootstrap import Darkroom, build
from darkroom.domain import Photo
from darkroom.web.app import create_app
from tests.corpus import corpus
from tests.web.signing_in import local_settings, sign_up

JPEG = "S01_canon_sd300_2mp.jpg"
MAX_STATUS_IDS = 100
"""As many as one DynamoDB BatchGetItem reads."""
GIF = base64.b64encode(b"GIF89a not really").decode()


def _upload(client: TestClient, headers: dict[str, str], content: str, wait: bool) -> str:
    answer = client.post(
        "/upload", params={"wait": str(wait).lower()}, json={"content": content}, headers=headers
    )
    assert answer.status_code in (201, 202, 422), answer.text
    photo_id: str = (answer.json().get("photo") or answer.json())["id"]
    return photo_id


def _statuses(client: TestClient, ids: list[str], headers: dict[str, str]) -> dict[str, Any]:
    answer = client.get("/photos/status", params={"ids": ",".join(ids)}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_many_photos_are_told_of_at_once_the_callers_only(
    local_client: TestClient, local_darkroom: Darkroom
) -> None:
    """Ready, failed, deleted, someone else's and never there, in the order asked: another
    user's photo is as missing as one that never was."""
    ann = sign_up(local_client, local_darkroom, "ann@example.org")
    bob = sign_up(local_client, local_darkroom, "bob@example.org")
    ready = _upload(local_client, ann, base64.b64encode(corpus(JPEG)).decode(), wait=True)
    failed = _upload(local_client, ann, GIF, wait=True)
    deleted = _upload(local_client, ann, base64.b64encode(corpus(JPEG)[:-9] + b"x").decode(), True)
    assert local_client.delete(f"/photos/{deleted}", headers=ann).status_code == 204
    bobs = _upload(local_client, bob, base64.b64encode(corpus(JPEG)).decode(), wait=True)

    asked = [failed, "never-there", bobs, ready, deleted, ready]
    body = _statuses(local_client, asked, ann)
    assert [s["id"] for s in body["items"]] == [failed, ready]
    first, second = body["items"]
    assert first["status"] == "failed" and first["reason"]
    assert second == local_client.get(f"/photos/{ready}/status", headers=ann).json()
    assert body["missing"] == ["never-there", bobs, deleted]

    # Bob hears of his own photo only: Ann's are as unknown to him as one never there.
    body = _statuses(local_client, [ready, bobs, "never-there", failed], bob)
    assert [s["id"] for s in body["items"]] == [bobs]
    assert body["missing"] == [ready, "never-there", failed]


def test_a_photo_still_processing_says_so(memory_darkroom: Darkroom) -> None:
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        pending = _upload(client, {}, base64.b64encode(corpus(JPEG)).decode(), wait=False)
        body = _statuses(client, [pending], {})
    assert [(s["id"], s["status"]) for s in body["items"]] == [(pending, "pending")]
    assert body["missing"] == []


def test_the_photos_are_read_from_the_catalog_together(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch read for the lot, never a read per photo (on DynamoDB: one BatchGetItem)."""
    catalog = memory_darkroom.catalog
    batches: list[list[str]] = []
    real = catalog.get_many

    def get_many(photo_ids: Collection[str]) -> dict[str, Photo]:
        batches.append(list(photo_ids))
        return real(photo_ids)

    def get(photo_id: str) -> Photo:
        raise AssertionError(f"photo {photo_id} read on its own")

    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        ids = [
            _upload(client, {}, base64.b64encode(corpus(JPEG)[:-n] + b"x" * n).decode(), False)
            for n in range(1, 6)
        ]
        monkeypatch.setattr(catalog, "get_many", get_many)
        monkeypatch.setattr(catalog, "get", get)
        body = _statuses(client, [*ids, "gone"], {})
    assert [s["id"] for s in body["items"]] == ids and body["missing"] == ["gone"]
    assert batches == [[*ids, "gone"]]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"ids": ""}, 400, "at least one"),
        ({"ids": " , ,"}, 400, "at least one"),
        ({}, 400, "ids"),
        ({"ids": ",".join(f"p{n}" for n in range(MAX_STATUS_IDS + 1))}, 400, "at most 100"),
        ({"ids": "a," + "x" * 101}, 400, "at most 100 characters"),
    ],
)
def test_bad_or_oversized_asks_are_json_errors(
    memory_darkroom: Darkroom, query: dict[str, str], status: int, message: str
) -> None:
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        answer = client.get("/photos/status", params=query)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "message"} and message in body["message"]
    assert body["error"] == "bad_request"


def test_a_hundred_ids_and_repeats_are_within_bounds(memory_darkroom: Darkroom) -> None:
    ids = [f"p{n}" for n in range(MAX_STATUS_IDS)]
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        body = _statuses(client, ids + ids[:3], {})
    assert body == {"items": [], "missing": ids}


def test_it_counts_against_the_listing_rate(tmp_path: Path) -> None:
    dr = build(local_settings(tmp_path, rate_listing=2, workers=0))
    with TestClient(create_app(dr)) as client:
        ann = sign_up(client, dr, "ann@example.org")
        assert client.get("/photos/status?ids=a", headers=ann).status_code == 200
        assert client.get("/photos", headers=ann).status_code == 200
        limited = client.get("/photos/status?ids=a", headers=ann)
        assert limited.status_code == 429 and limited.json()["error"] == "too_many_requests"
        assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_the_schema_documents_it(memory_darkroom: Darkroom) -> None:
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        schema = client.get("/openapi.json").json()
    route = schema["paths"]["/photos/status"]["get"]
    (ids,) = [p for p in route["parameters"] if p["name"] == "ids"]
    assert ids["in"] == "query" and ids["required"] is True
    ok = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/StatusBatch"}
    batch = schema["components"]["schemas"]["StatusBatch"]
    assert set(batch["required"]) == {"items", "missing"}
    assert {"400", "401", "429"} <= set(route["responses"])
