"""Answers are compressed with gzip for clients that take it, but for the stored files."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from darkroom.bootstrap import build
from darkroom.config import Settings
from darkroom.web.app import create_app

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The embedded default: files on disk, served by darkroom, ranges and all."""
    dr = build(Settings(data_dir=tmp_path, secret="compression-test-secret", workers=0))
    for shade in range(12):
        photo = io.BytesIO()
        Image.new("RGB", (64, 48), (shade * 20, 90, 160)).save(photo, "BMP")
        dr.gallery.upload("local", photo.getvalue(), f"photo-{shade}.bmp")
    dr.worker("test").drain()
    with TestClient(create_app(dr, run_workers=False)) as client:
        yield client


def _raw(
    client: TestClient, method: str, url: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body as sent (httpx would undo the gzip)."""
    with client.stream(method, url, headers=headers) as response:
        return response.status_code, dict(response.headers), b"".join(response.iter_raw())


def test_the_api_answers_in_gzip_to_a_client_that_takes_it(client: TestClient) -> None:
    status, headers, body = _raw(client, "GET", "/photos", GZIP)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    assert int(headers["content-length"]) == len(body)
    plain = client.get("/photos", headers=IDENTITY)
    assert "content-encoding" not in plain.headers
    assert json.loads(gzip.decompress(body)) == plain.json()
    assert len(body) < len(plain.content) / 3


def test_the_pages_files_are_compressed_and_a_head_says_what_its_get_would(
    client: TestClient,
) -> None:
    status, got, body = _raw(client, "GET", "/gallery.js", GZIP)
    assert status == 200 and got["content-encoding"] == "gzip"
    assert gzip.decompress(body) == client.get("/gallery.js", headers=IDENTITY).content
    status, head, nothing = _raw(client, "HEAD", "/gallery.js", GZIP)
    assert status == 200 and nothing == b""
    assert head["content-encoding"] == "gzip"
    assert head["content-length"] == got["content-length"]


def test_stored_files_are_sent_as_they_are(client: TestClient) -> None:
    """An original of any type (a BMP here, which gzip would shrink), and its ranges."""
    photo = client.get("/photos").json()["items"][0]
    original = photo["original_url"]
    status, headers, body = _raw(client, "GET", original, GZIP)
    assert status == 200 and "content-encoding" not in headers
    assert body[:2] == b"BM" and int(headers["content-length"]) == len(body)
    status, headers, part = _raw(client, "GET", original, GZIP | {"range": "bytes=0-9"})
    assert status == 206 and "content-encoding" not in headers
    assert part == body[:10]


def test_a_compressed_answer_names_its_bytes_apart_from_the_files_own(client: TestClient) -> None:
    """The file's strong ETag and `Accept-Ranges` belong to its own bytes: a client that
    resumed a compressed download with a range `If-Range` that ETag got the file's bytes
    from that offset, spliced into the gzip."""
    status, got, _ = _raw(client, "GET", "/gallery.js", GZIP)
    plain = client.get("/gallery.js", headers=IDENTITY)
    assert status == 200 and got["content-encoding"] == "gzip"
    assert got["etag"] != plain.headers["etag"]
    assert "accept-ranges" not in got
    status, _, _ = _raw(client, "GET", "/gallery.js", GZIP | {"if-none-match": got["etag"]})
    assert status == 304
    resumed = GZIP | {"range": "bytes=100-", "if-range": got["etag"]}
    status, headers, body = _raw(client, "GET", "/gallery.js", resumed)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain.content


@pytest.mark.parametrize("refusal", ["gzip;q=0", "br, gzip; q=0.0", "deflate, GZIP;Q=0"])
def test_a_client_refusing_gzip_is_answered_as_it_is(client: TestClient, refusal: str) -> None:
    status, headers, body = _raw(client, "GET", "/photos", {"accept-encoding": refusal})
    assert status == 200 and "content-encoding" not in headers
    assert json.loads(body)["items"]


def test_a_copy_held_compressed_is_answered_304_with_the_compressed_ones_etag(
    client: TestClient,
) -> None:
    """A 304's ETag tells the client which copy it holds: the compressed one's weak ETag,
    where that is what it asked after; the file's own strong one otherwise."""
    _, got, _ = _raw(client, "GET", "/gallery.js", GZIP)
    plain = client.get("/gallery.js", headers=IDENTITY)
    status, headers, _ = _raw(client, "GET", "/gallery.js", GZIP | {"if-none-match": got["etag"]})
    assert status == 304 and headers["etag"] == got["etag"]
    held_plain = IDENTITY | {"if-none-match": plain.headers["etag"]}
    status, headers, _ = _raw(client, "GET", "/gallery.js", held_plain)
    assert status == 304 and headers["etag"] == plain.headers["etag"]
