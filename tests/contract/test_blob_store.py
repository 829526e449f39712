"""The BlobStore contract, over every adapter: the local ones, and S3 on `rclone serve s3`
and on moto's server (`tests/aws/test_s3_uploads.py` checks S3's own signed URLs)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from darkroom.adapters.filesystem import FilesystemBlobStore
from darkroom.adapters.memory import MemoryBlobStore
from darkroom.errors import BadRequest, Forbidden, NotFound
from darkroom.ports import BlobStore, iterate_blobs
from darkroom.signing import UrlSigner
from tests.aws.servers import moto_endpoint, rclone_endpoint, s3_store

SIGNER = UrlSigner(b"contract-test-secret-0123456789")
Factory = Callable[[Path], BlobStore]
FACTORIES: dict[str, Factory] = {
    "memory": lambda root: MemoryBlobStore("originals", SIGNER),
    "filesystem": lambda root: FilesystemBlobStore("originals", root / "blobs", SIGNER),
    "s3-rclone": lambda root: s3_store(rclone_endpoint()),
    "s3-moto": lambda root: s3_store(moto_endpoint()),
}
SELF_SIGNED = ("memory", "filesystem")
"""Stores whose URLs darkroom signs and serves itself."""


@pytest.fixture(params=sorted(FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return FACTORIES[request.param](tmp_path)


def test_put_get_head_delete(store: BlobStore) -> None:
    info = store.put("a/b/photo.jpg", b"\xff\xd8\xffdata", "image/jpeg")
    assert info.size == 7 and info.key == "a/b/photo.jpg" and info.etag
    assert store.get("a/b/photo.jpg") == b"\xff\xd8\xffdata"
    head = store.head("a/b/photo.jpg")
    assert head is not None and head.size == 7 and head.content_type == "image/jpeg"
    store.delete("a/b/photo.jpg")
    store.delete("a/b/photo.jpg")
    assert store.head("a/b/photo.jpg") is None
    with pytest.raises(NotFound):
        store.get("a/b/photo.jpg")


def test_put_accepts_a_stream_and_replaces_whole(store: BlobStore) -> None:
    store.put("x.png", b"old", "image/png")
    store.put("x.png", io.BytesIO(b"new and longer"), "image/png")
    assert store.get("x.png") == b"new and longer"


def test_list_is_ordered_paged_and_prefixed(store: BlobStore) -> None:
    keys = [f"p/{i:03d}.jpg" for i in range(25)] + ["q/other.jpg"]
    for key in keys:
        store.put(key, b"x", "image/jpeg")
    assert [b.key for b in store.list("p/", limit=10)] == keys[:10]
    assert [b.key for b in store.list("p/", after=keys[9], limit=10)] == keys[10:20]
    assert [b.key for b in iterate_blobs(store)] == sorted(keys)


def test_list_orders_keys_as_strings_across_folders(store: BlobStore) -> None:
    """A folder's keys sort as its name and a slash: among `a-b/…`, `a.b` and `a0`."""
    keys = ["a0.jpg", "a/c/d.jpg", "a.b", "ab/x.jpg", "a-b/1.jpg", "a/b.jpg", "a/b/e.jpg"]
    for key in keys:
        store.put(key, b"x", "image/jpeg")
    ordered = sorted(keys)
    assert [b.key for b in iterate_blobs(store)] == ordered
    for after in ["", *ordered]:
        for prefix in ("", "a", "a/", "a/b", "a/b/", "a/c/", "ab/", "z"):
            expected = [k for k in ordered if k.startswith(prefix) and k > after][:2]
            assert [b.key for b in store.list(prefix, after=after, limit=2)] == expected, (
                prefix,
                after,
            )


def test_filesystem_lists_a_page_without_reading_the_whole_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo's prefix reads its own folder; a page of everything, the root and the
    folders the page takes its keys from (the whole tree for every page made a deletion
    read every variant's folder, and `stats` or `doctor` as many times over)."""
    store = FilesystemBlobStore("variants", tmp_path, SIGNER)
    for photo in range(40):
        for name in ("thumb", "w150", "w320"):
            store.put(f"p{photo:02d}/{name}.jpg", b"x", "image/jpeg")
    opened: list[str] = []
    scandir = os.scandir

    def counted(path: str | os.PathLike[str]) -> object:
        opened.append(os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    assert [b.key for b in iterate_blobs(store, "p17/")] == [
        "p17/thumb.jpg",
        "p17/w150.jpg",
        "p17/w320.jpg",
    ]
    assert len(opened) <= 2, opened  # once per page: the keys, then none left
    opened.clear()
    page = store.list(after="p09/w320.jpg", limit=5)
    assert [b.key for b in page] == [
        f"p{i}/{n}.jpg" for i in (10, 11) for n in ("thumb", "w150", "w320")
    ][:5]
    assert len(opened) <= 4, opened  # the root, p09 (the rest of it), p10 and p11


@pytest.mark.parametrize(
    "key",
    [
        "../escape.jpg",
        "/etc/passwd",
        "a/../../b.jpg",
        "",
        "a//b",
        "a\\..\\b",
        "x/../y",
        ".hidden/../../z",
        "a\x00b",
    ],
)
def test_keys_that_could_escape_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(BadRequest):
        store.put(key, b"x", "image/jpeg")
    with pytest.raises(BadRequest):
        store.get(key)


@pytest.mark.parametrize("adapter", SELF_SIGNED)
def test_presigned_urls_bind_method_key_and_limits(adapter: str, tmp_path: Path) -> None:
    store = FACTORIES[adapter](tmp_path)
    put = store.presign_put("up/new.jpg", "image/jpeg", 1000, 300)
    assert put.method == "PUT" and put.headers["Content-Type"] == "image/jpeg"
    assert put.expires_at.timestamp() == pytest.approx(time.time() + 300, abs=5)
    get = store.presign_get("up/new.jpg", 3600, "holiday.jpg")
    assert get.method == "GET" and get.expires_at.timestamp() >= time.time() + 3600
    for request, method in ((put, "PUT"), (get, "GET")):
        parts = urlsplit(request.url)
        store_name, key = parts.path.split("/", 3)[2:]
        query = dict(parse_qsl(parts.query))
        grant = SIGNER.verify(method, store_name, key, query, time.time())
        assert grant.key == "up/new.jpg"
        with pytest.raises(Forbidden):
            SIGNER.verify(method, store_name, "up/other.jpg", query, time.time())
        with pytest.raises(Forbidden):
            SIGNER.verify("DELETE", store_name, key, query, time.time())
        with pytest.raises(Forbidden):
            SIGNER.verify(method, store_name, key, query, time.time() + 10 * 86400)
    tampered = dict(parse_qsl(urlsplit(put.url).query)) | {"max_bytes": "99999999"}
    with pytest.raises(Forbidden):
        SIGNER.verify("PUT", "originals", "up/new.jpg", tampered, time.time())
    typed = store.presign_get("up/new.png", 3600, "a.png", "image/jpeg")
    query = dict(parse_qsl(urlsplit(typed.url).query))
    assert SIGNER.verify("GET", "originals", "up/new.png", query, time.time()).content_type == (
        "image/jpeg"
    )
    with pytest.raises(Forbidden):
        SIGNER.verify("GET", "originals", "up/new.png", query | {"content_type": "text/html"}, 0)


def test_filesystem_writes_are_atomic_and_leave_no_partial_files(tmp_path: Path) -> None:
    store = FilesystemBlobStore("originals", tmp_path, SIGNER)

    class Exploding(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise OSError(5, "disk on fire")
            return super().read(4)

    store.put("keep.jpg", b"original bytes", "image/jpeg")
    with pytest.raises(Exception, match="disk on fire"):
        store.put("keep.jpg", Exploding(b"replacement bytes"), "image/jpeg")
    assert store.get("keep.jpg") == b"original bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jpg"]


def test_filesystem_refuses_symlinks_out_of_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = FilesystemBlobStore("originals", root, SIGNER)
    with pytest.raises(BadRequest):
        store.get("link/secret.txt")


def test_filesystem_names_and_removes_the_leftovers_of_cut_short_writes(tmp_path: Path) -> None:
    store = FilesystemBlobStore("variants", tmp_path, SIGNER)
    store.put("a/kept.jpg", b"whole", "image/jpeg")
    old = tmp_path / "a" / ".partial-old"
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ".partial-new").write_bytes(b"being written")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert store.leftovers(hour_ago) == ["a/.partial-old"]
    assert store.leftovers(datetime.now(UTC) + timedelta(seconds=1)) == [
        "a/.partial-old",
        "b/.partial-new",
    ]
    for name in ("a/kept.jpg", "../outside/.partial-x", "/etc/.partial-x"):
        with pytest.raises(BadRequest):
            store.remove_leftover(name)
    store.remove_leftover("a/.partial-old")
    store.remove_leftover("a/.partial-old")  # idempotent
    assert store.leftovers(hour_ago) == []
    assert store.get("a/kept.jpg") == b"whole"
    assert [b.key for b in store.list()] == ["a/kept.jpg"]
