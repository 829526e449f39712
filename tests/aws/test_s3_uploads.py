"""S3's own signed URLs, sent over HTTP. Upload security is asserted against
`rclone serve s3` only: moto checks no signature at all."""

from __future__ import annotations

import io
import os
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from darkroom.adapters.s3 import S3BlobStore, S3Location
from darkroom.errors import BadRequest
from tests.aws.servers import aws_client, moto_endpoint, rclone_endpoint, s3_store

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(2000)


def send(request_url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.put(request_url, content=body, headers=headers, timeout=10)


@pytest.fixture
def strict() -> S3BlobStore:
    return s3_store(rclone_endpoint())


def test_a_presigned_put_stores_exactly_what_was_signed(strict: S3BlobStore) -> None:
    signed = strict.presign_put("up/a.jpg", "image/jpeg", len(JPEG), 300)
    assert signed.method == "PUT" and signed.headers["Content-Length"] == str(len(JPEG))
    answer = send(signed.url, JPEG, {"Content-Type": "image/jpeg"})
    assert answer.is_success, answer.text
    info = strict.head("up/a.jpg")
    assert info is not None and info.size == len(JPEG) and info.content_type == "image/jpeg"
    assert strict.get("up/a.jpg") == JPEG


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (JPEG, "image/png"),
        (JPEG + b"more", "image/jpeg"),
        (JPEG[:-1], "image/jpeg"),
    ],
    ids=["wrong-content-type", "larger", "smaller"],
)
def test_a_presigned_put_refuses_other_types_and_sizes(
    strict: S3BlobStore, body: bytes, content_type: str
) -> None:
    signed = strict.presign_put("up/b.jpg", "image/jpeg", len(JPEG), 300)
    answer = send(signed.url, body, {"Content-Type": content_type})
    assert not answer.is_success
    assert strict.head("up/b.jpg") is None


def test_a_tampered_presigned_url_is_refused(strict: S3BlobStore) -> None:
    signed = strict.presign_put("up/c.jpg", "image/jpeg", len(JPEG), 300)
    parts = urlsplit(signed.url)
    query = dict(parse_qsl(parts.query))
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = urlunsplit(parts._replace(query=urlencode(query)))
    other_key = signed.url.replace("/up/c.jpg?", "/up/evil.jpg?")
    longer = urlunsplit(parts._replace(query=urlencode(query | {"X-Amz-Expires": "604800"})))
    for url in (tampered, other_key, longer):
        assert not send(url, JPEG, {"Content-Type": "image/jpeg"}).is_success
    assert strict.list("up/") == []


def test_an_expired_presigned_url_is_refused(strict: S3BlobStore) -> None:
    strict.put("old.jpg", JPEG, "image/jpeg")
    put = strict.presign_put("up/d.jpg", "image/jpeg", len(JPEG), 1)
    get = strict.presign_get("old.jpg", 1)
    time.sleep(2.1)
    assert not send(put.url, JPEG, {"Content-Type": "image/jpeg"}).is_success
    assert not httpx.get(get.url, timeout=10).is_success
    assert strict.head("up/d.jpg") is None


@pytest.mark.parametrize("server", ["rclone", "moto"])
def test_a_presigned_get_names_the_download(server: str) -> None:
    store = s3_store(rclone_endpoint() if server == "rclone" else moto_endpoint())
    store.put("1_abc.jpg", JPEG, "image/jpeg")
    signed = store.presign_get("1_abc.jpg", 3600, "Été à Kyōto.jpg")
    answer = httpx.get(signed.url, timeout=10)
    assert answer.is_success and answer.content == JPEG
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "%C3%89t%C3%A9" in disposition
    assert signed.expires_at.timestamp() == pytest.approx(time.time() + 3600, abs=5)


@pytest.mark.parametrize("server", ["rclone", "moto"])
def test_a_presigned_get_serves_the_type_it_names(server: str) -> None:
    store = s3_store(rclone_endpoint() if server == "rclone" else moto_endpoint())
    store.put("1_abd.png", JPEG, "image/png")
    answer = httpx.get(store.presign_get("1_abd.png", 3600, "a.png", "image/jpeg").url, timeout=10)
    assert answer.is_success and answer.content == JPEG
    assert answer.headers["Content-Type"] == "image/jpeg"


def test_a_presigned_post_carries_a_policy_that_bounds_size_and_type() -> None:
    store = s3_store(moto_endpoint())
    signed = store.presign_put("up/e.jpg", "image/jpeg", 10_000, 300)
    assert signed.method == "POST" and signed.fields["key"] == "up/e.jpg"
    assert signed.fields["Content-Type"] == "image/jpeg" and "policy" in signed.fields
    files = {"file": ("e.jpg", JPEG, "image/jpeg")}
    answer = httpx.post(signed.url, data=dict(signed.fields), files=files, timeout=10)
    assert answer.is_success, answer.text
    assert store.get("up/e.jpg") == JPEG


@pytest.mark.parametrize("server", ["rclone", "moto"])
def test_large_originals_go_in_parts(server: str) -> None:
    endpoint = rclone_endpoint() if server == "rclone" else moto_endpoint()
    store = s3_store(endpoint, part_size=5 * 1024 * 1024)
    data = os.urandom(12 * 1024 * 1024 + 7)
    info = store.put("big.jpg", io.BytesIO(data), "image/jpeg")
    assert info.size == len(data) and info.etag
    assert store.get("big.jpg") == data


def test_a_failed_part_leaves_neither_object_nor_upload() -> None:
    store = s3_store(moto_endpoint(), part_size=5 * 1024 * 1024)

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= 10 * 1024 * 1024:
                raise OSError(5, "the client went away")
            return super().read(size)

    with pytest.raises(OSError, match="went away"):
        store.put("big.jpg", Broken(os.urandom(16 * 1024 * 1024)), "image/jpeg")
    assert store.head("big.jpg") is None
    uploads = aws_client("s3", moto_endpoint()).list_multipart_uploads(Bucket=store.location.bucket)
    assert uploads.get("Uploads", []) == []


def test_a_prefix_keeps_the_store_in_its_part_of_the_bucket() -> None:
    base = s3_store(moto_endpoint())
    bucket = base.location.bucket
    inner = S3BlobStore(S3Location(bucket, "v/"), aws_client("s3", moto_endpoint()))
    inner.put("p1/thumb.jpg", JPEG, "image/jpeg")
    base.put("outside.jpg", JPEG, "image/jpeg")
    assert [b.key for b in inner.list()] == ["p1/thumb.jpg"]
    assert [b.key for b in base.list()] == ["outside.jpg", "v/p1/thumb.jpg"]
    assert inner.location.key_of(bucket, "v/p1/thumb.jpg") == "p1/thumb.jpg"
    assert inner.location.key_of(bucket, "outside.jpg") is None
    assert inner.location.key_of("other", "v/p1/thumb.jpg") is None


def test_keys_from_outside_darkroom_are_read_but_cannot_escape() -> None:
    store = s3_store(moto_endpoint())
    store.put("Holiday 2026/IMG 0001.JPG", JPEG, "image/jpeg")
    assert store.get("Holiday 2026/IMG 0001.JPG") == JPEG
    for key in ("../x.jpg", "a/./b.jpg", "/abs.jpg", "a\\b.jpg", "tab\there.jpg"):
        with pytest.raises(BadRequest):
            store.get(key)


def test_locations_parse_from_settings() -> None:
    location = S3Location.parse(
        "s3://photos/originals?endpoint_url=http://127.0.0.1:9000&region=eu-west-1&upload=put"
    )
    assert location == S3Location(
        "photos", "originals/", "http://127.0.0.1:9000", "eu-west-1", "put", ""
    )
    public = S3Location.parse("s3://variants/v/?public_url=https://cdn.example/")
    assert public.public_url == "https://cdn.example/" and public.upload == "post"
    for bad in ("s3://", "file:///tmp", "s3://b?upload=ftp"):
        with pytest.raises(ValueError, match="s3://BUCKET"):
            S3Location.parse(bad)


def test_a_public_url_serves_variants_without_a_signature() -> None:
    store = S3BlobStore(S3Location("variants", "v/", public_url="https://cdn.example/"))
    signed = store.presign_get("p1/thumb-abc.jpg", 3600)
    assert signed.url == "https://cdn.example/v/p1/thumb-abc.jpg"
