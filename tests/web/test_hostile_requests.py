"""Requests a client can make up, against darkroom on its embedded default (files on disk,
SQLite): each gets a 4xx or a JSON answer, never a bare 500."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from darkroom.web.app import create_app
from tests.corpus import corpus

JPEG = "S01_canon_sd300_2mp.jpg"


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Darkroom]:
    dr = build(Settings(data_dir=tmp_path, secret="test-secret-of-sixteen+", workers=1))
    yield dr
    dr.stop_workers()


@pytest.fixture
def client(embedded: Darkroom) -> Iterator[TestClient]:
    with TestClient(create_app(embedded)) as client:
        yield client


def _jpeg_with_exif_double(tag: int, value: float) -> bytes:
    """A small JPEG whose EXIF sub-IFD holds `tag` as a DOUBLE (type 12) of `value`."""
    exif_at = 8 + 2 + 12 + 4
    ifd0 = struct.pack("<HHHII", 1, 0x8769, 4, 1, exif_at) + bytes(4)
    value_at = exif_at + 2 + 12 + 4
    sub = struct.pack("<HHHII", 1, tag, 12, 1, value_at) + bytes(4) + struct.pack("<d", value)
    block = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd0 + sub
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 100, 50)).save(out, "JPEG")
    jpeg = out.getvalue()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block + jpeg[2:]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_an_infinite_exif_number_is_left_out_of_the_summary(
    client: TestClient, value: float
) -> None:
    data = _jpeg_with_exif_double(0x829D, value)  # FNumber
    for _ in range(2):  # the second is the same photo again
        r = client.post("/upload", files={"file": ("f.jpg", data, "image/jpeg")})
        assert r.status_code in (200, 201), r.text
        assert "f_number" not in r.json()["metadata"]


@pytest.mark.parametrize(
    "cursor", ["MDAwMS0wMS0wMVQwMDowMDowMCsyMzo1OXx4", "OTk5OS0xMi0zMVQyMzo1OTo1OS0yMzo1OXx4"]
)
def test_a_cursor_at_the_ends_of_time_is_a_400(client: TestClient, cursor: str) -> None:
    r = client.get("/photos", params={"cursor": cursor})
    assert r.status_code == 400 and "cursor" in r.json()["message"]


def test_a_signature_that_is_not_ascii_is_a_403(client: TestClient) -> None:
    r = client.get("/files/variants/a", params={"expires": "99999999999", "signature": "é"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_an_unexpected_error_is_a_json_500_with_the_usual_headers(
    client: TestClient, embedded: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a defect")

    monkeypatch.setattr(embedded.catalog, "list", broken)
    r = client.get("/photos", headers={"X-Request-Id": "req-123"})
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error" and "defect" not in r.text
    assert r.headers["x-request-id"] == "req-123"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_made_up_methods_share_one_metric_series(client: TestClient) -> None:
    for method in ("FOO1", "FOO2", "BREW"):
        assert client.request(method, "/photos").status_code == 405
    metrics = client.get("/metrics").text
    assert 'method="other"' in metrics and "FOO1" not in metrics and "BREW" not in metrics


def test_head_is_answered_wherever_get_is(client: TestClient) -> None:
    photo = client.post("/upload", files={"file": ("a.jpg", corpus(JPEG), "image/jpeg")}).json()
    thumb = photo["variants"]["thumb"]["url"]
    for url in ("/healthz", "/photos", f"/photos/{photo['id']}", "/", thumb):
        got, head = client.get(url), client.head(url)
        assert head.status_code == got.status_code == 200, url
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"], url
    assert client.head(thumb).headers["content-length"] == str(len(client.get(thumb).content))
    metrics = client.get("/metrics").text
    for route in ("/healthz", "/photos/{photo_id}"):  # counted under the route, as GET is
        assert f'method="HEAD",route="{route}"' in metrics


def test_a_variant_the_client_holds_is_a_304(client: TestClient) -> None:
    photo = client.post("/upload", files={"file": ("a.jpg", corpus(JPEG), "image/jpeg")}).json()
    url = photo["variants"]["w320"]["url"]
    etag = client.get(url).headers["etag"]
    assert etag.startswith('"')
    held = client.get(url, headers={"If-None-Match": f'W/"other", {etag}'})
    assert held.status_code == 304 and held.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("header", ["bytes=5-1", "items=0-1", "bytes=-", "bytes=x-y"])
def test_an_invalid_range_is_ignored(client: TestClient, header: str) -> None:
    photo = client.post("/upload", files={"file": ("a.jpg", corpus(JPEG), "image/jpeg")}).json()
    url = photo["variants"]["w320"]["url"]
    whole = client.get(url).content
    r = client.get(url, headers={"Range": header})
    assert r.status_code == 200 and r.content == whole
    for valid in ("bytes=0-9", "bytes=0-9, "):  # a list may hold empty elements
        part = client.get(url, headers={"Range": valid})
        assert part.status_code == 206 and part.content == whole[:10]


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=-0", "bytes=0-1, 999999-"])
def test_a_range_past_the_end_is_a_416_with_a_message(client: TestClient, header: str) -> None:
    photo = client.post("/upload", files={"file": ("a.jpg", corpus(JPEG), "image/jpeg")}).json()
    url = photo["variants"]["w320"]["url"]
    size = len(client.get(url).content)
    for method in ("GET", "HEAD"):
        r = client.request(method, url, headers={"Range": header})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
        assert r.headers["content-type"] == "application/json"
    assert client.get(url, headers={"Range": header}).json()["error"] == "range_not_satisfiable"
    # An If-Range naming another version asks for the whole file, as RFC 9110 has it.
    stale = client.get(url, headers={"Range": header, "If-Range": '"other"'})
    assert stale.status_code == 200 and len(stale.content) == size


def test_an_upload_url_of_a_deleted_photo_stores_nothing(
    client: TestClient, embedded: Darkroom
) -> None:
    data = corpus(JPEG)
    ticket = client.post(
        "/uploads", json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)}
    ).json()
    assert client.delete(f"/photos/{ticket['id']}").status_code == 204
    put = client.put(ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 404 and "deleted" in put.json()["message"]
    assert embedded.originals.list() == []


def test_an_upload_url_of_a_copy_stores_nothing_more(
    client: TestClient, embedded: Darkroom
) -> None:
    data = corpus(JPEG)
    kept = client.post("/upload", files={"file": ("a.jpg", data, "image/jpeg")}).json()
    asked = {"filename": "b.jpg", "content_type": "image/jpeg"}
    ticket = client.post("/uploads", json=asked).json()
    assert client.put(ticket["url"], content=data, headers=ticket["headers"]).status_code == 200
    copy = client.post(ticket["complete_url"]).json()
    assert copy["duplicate"] and copy["id"] == kept["id"]
    # The copy's original went when it was found to be one; its URL still runs.
    again = client.put(ticket["url"], content=b"other bytes", headers=ticket["headers"])
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert [blob.key for blob in embedded.originals.list()] == [kept["key"]]
