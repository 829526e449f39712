"""Objects in an S3 bucket, or on any S3-compatible server (MinIO, R2, `rclone serve s3`)."""

from __future__ import annotations

import builtins
import io
import mimetypes
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.parse import quote, unquote, urlsplit

from botocore.exceptions import ClientError

from darkroom.adapters.aws import client, error_code, translated, url_options
from darkroom.domain import BlobInfo, SignedRequest
from darkroom.errors import BadRequest

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

UploadStyle = Literal["post", "put"]
PART_SIZE = 8 * 1024 * 1024
"""Objects larger than this are sent in parts of this size (S3's minimum is 5 MiB)."""


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where a store lives, from `s3://bucket/prefix/?endpoint_url=…&region=…&upload=put
    &public_url=…`: `upload=put` for servers without presigned POST (rclone, R2);
    `public_url` for a CDN that serves the bucket, so variant URLs need no signature."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    upload: UploadStyle = "post"
    public_url: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        options = url_options(url)
        upload = options.get("upload", "post")
        if parts.scheme != "s3" or not parts.netloc or upload not in ("post", "put"):
            raise ValueError(
                f"{url.split('?')[0]!r} is not s3://BUCKET[/PREFIX/][?upload=post|put]"
            )
        prefix = unquote(parts.path).lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(
            parts.netloc,
            prefix,
            options.get("endpoint_url"),
            options.get("region"),
            "put" if upload == "put" else "post",
            options.get("public_url", ""),
        )

    def key_of(self, bucket: str, object_key: str) -> str | None:
        """The store's key for an object an event names; None if it is not in this store."""
        if bucket != self.bucket or not object_key.startswith(self.prefix):
            return None
        return object_key[len(self.prefix) :] or None


class S3BlobStore:
    def __init__(
        self,
        location: S3Location,
        s3_client: S3Client | None = None,
        *,
        part_size: int = PART_SIZE,
    ) -> None:
        self.location = location
        self._client = s3_client
        self._part_size = part_size

    @property
    def s3(self) -> S3Client:
        if self._client is None:
            self._client = client("s3", self.location.endpoint_url, self.location.region)
        return self._client

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> BlobInfo:
        name = self._object(key)
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        first = stream.read(self._part_size)
        following = stream.read(self._part_size)
        with translated(f"cannot write {key!r}"):
            if not following:
                answer = self.s3.put_object(
                    Bucket=self.location.bucket, Key=name, Body=first, ContentType=content_type
                )
                return BlobInfo(key, len(first), content_type, _etag(answer["ETag"]))
            return self._put_parts(key, name, content_type, first, following, stream)

    def _put_parts(
        self, key: str, name: str, content_type: str, first: bytes, chunk: bytes, rest: BinaryIO
    ) -> BlobInfo:
        """A multipart upload: the object appears whole when completed, or not at all."""
        bucket = self.location.bucket
        upload = self.s3.create_multipart_upload(Bucket=bucket, Key=name, ContentType=content_type)[
            "UploadId"
        ]
        parts: builtins.list[tuple[int, str]] = []
        size = 0
        try:
            part: bytes = first
            while part:
                number = len(parts) + 1
                sent = self.s3.upload_part(
                    Bucket=bucket, Key=name, UploadId=upload, PartNumber=number, Body=part
                )
                parts.append((number, sent["ETag"]))
                size += len(part)
                part, chunk = chunk, rest.read(self._part_size) if chunk else b""
            done = self.s3.complete_multipart_upload(
                Bucket=bucket,
                Key=name,
                UploadId=upload,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
            )
        except BaseException:
            self.s3.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload)
            raise
        return BlobInfo(key, size, content_type, _etag(done.get("ETag", "")))

    def get(self, key: str) -> bytes:
        name = self._object(key)
        with translated(f"cannot read {key!r}"):
            return self.s3.get_object(Bucket=self.location.bucket, Key=name)["Body"].read()

    def head(self, key: str) -> BlobInfo | None:
        name = self._object(key)
        with translated(f"cannot look at {key!r}"):
            try:
                answer = self.s3.head_object(Bucket=self.location.bucket, Key=name)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return BlobInfo(
            key,
            answer["ContentLength"],
            answer.get("ContentType", "application/octet-stream"),
            _etag(answer["ETag"]),
        )

    def delete(self, key: str) -> None:
        name = self._object(key)
        with translated(f"cannot delete {key!r}"):
            self.s3.delete_object(Bucket=self.location.bucket, Key=name)

    def list(self, prefix: str = "", after: str = "", limit: int = 1000) -> builtins.list[BlobInfo]:
        base = self.location.prefix
        found: builtins.list[BlobInfo] = []
        token = ""
        while len(found) < limit:
            query = {
                "Bucket": self.location.bucket,
                "Prefix": base + prefix,
                "MaxKeys": min(limit - len(found), 1000),
            }
            if token:
                query["ContinuationToken"] = token
            elif after:
                query["StartAfter"] = base + after
            with translated(f"cannot list {prefix!r}"):
                answer = self.s3.list_objects_v2(**query)  # type: ignore[arg-type]
            for item in answer.get("Contents", []):
                key = item["Key"][len(base) :]
                guessed = mimetypes.guess_type(key)[0] or "application/octet-stream"
                found.append(BlobInfo(key, item["Size"], guessed, _etag(item["ETag"])))
            token = answer.get("NextContinuationToken", "")
            if not token:
                break
        return found[:limit]

    def presign_get(
        self,
        key: str,
        expires_in: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> SignedRequest:
        name = self._object(key)
        expires_at = datetime.fromtimestamp(int(time.time()) + expires_in, UTC)
        if self.location.public_url and not download_name and not content_type:
            return SignedRequest(self.location.public_url + quote(name), "GET", {}, {}, expires_at)
        params = {"Bucket": self.location.bucket, "Key": name}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        if content_type:
            params["ResponseContentType"] = content_type
        url = self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return SignedRequest(url, "GET", {}, {}, expires_at)

    def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> SignedRequest:
        """A POST policy bounds the size from 1 to `max_bytes`; a PUT can only sign one
        Content-Length, so the client must send exactly `max_bytes` bytes."""
        name = self._object(key)
        expires_at = datetime.fromtimestamp(int(time.time()) + expires_in, UTC)
        if self.location.upload == "post":
            post = self.s3.generate_presigned_post(
                Bucket=self.location.bucket,
                Key=name,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", 1, max_bytes],
                ],
                ExpiresIn=expires_in,
            )
            return SignedRequest(post["url"], "POST", {}, post["fields"], expires_at)
        url = self.s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.location.bucket,
                "Key": name,
                "ContentType": content_type,
                "ContentLength": max_bytes,
            },
            ExpiresIn=expires_in,
        )
        headers = {"Content-Type": content_type, "Content-Length": str(max_bytes)}
        return SignedRequest(url, "PUT", headers, {}, expires_at)

    def _object(self, key: str) -> str:
        """The object's name in the bucket. Keys from events are not darkroom's own (spaces,
        capitals), so this refuses only what could read outside the store's prefix."""
        if (
            not key
            or len(key) > 900
            or key.startswith("/")
            or "\\" in key
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in key)
            or any(part in ("", ".", "..") for part in key.split("/"))
        ):
            raise BadRequest(f"invalid object key {key[:80]!r}")
        return self.location.prefix + key


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice: plain ASCII for old clients, RFC 5987 for the rest."""
    plain = "".join(ch for ch in filename if 32 <= ord(ch) < 127 and ch not in '"\\') or "photo"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _etag(value: str) -> str:
    return value.strip('"')
