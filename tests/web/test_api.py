"""The HTTP API in-process (memory adapters, a worker thread): shapes and bad input."""

from __future__ import annotations

import base64
import io
import re
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from darkroom import keys
from darkroom.bootstrap import Darkroom
from darkroom.domain import Photo
from darkroom.web.app import create_app
from tests.corpus import corpus

JPEG = "S01_canon_sd300_2mp.jpg"


@pytest.fixture
def client(memory_darkroom: Darkroom) -> Iterator[TestClient]:
    memory_darkroom.settings.workers = 1
    with TestClient(create_app(memory_darkroom)) as client:
        yield client


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims a huge image: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def test_json_upload_answers_the_processed_photo(client: TestClient) -> None:
    r = client.post(
        "/upload",
        json={"content": _b64(corpus(JPEG)), "key": "my/holiday.jpg", "description": "beach"},
    )
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["status"] == "ready" and photo["filename"] == "holiday.jpg"
    assert photo["description"] == "beach" and (photo["width"], photo["height"]) == (1600, 1200)
    assert set(photo["variants"]) == {"thumb", "w150", "w320", "w640", "w1024", "display"}
    assert len(photo["blurhash"]) == 28  # 4×3 components
    assert client.get("/photos").json()["items"][0]["blurhash"] == photo["blurhash"]
    thumb = client.get(photo["variants"]["thumb"]["url"])
    assert thumb.status_code == 200
    assert thumb.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 100
    original = client.get(f"/photos/{photo['id']}/original", follow_redirects=True)
    assert original.content == corpus(JPEG)
    assert "holiday.jpg" in original.headers["content-disposition"]


def test_multipart_upload_without_waiting_then_status(client: TestClient) -> None:
    r = client.post(
        "/upload?wait=false",
        files={"file": ("a.jpg", corpus(JPEG), "image/jpeg")},
        data={"description": "x"},
    )
    assert r.status_code in (201, 202), r.text
    photo_id, key = r.json()["id"], r.json()["key"]
    for _ in range(200):
        status = client.get(f"/photos/{photo_id}/status").json()
        if status["status"] == "ready":
            break
        time.sleep(0.05)
    assert status["status"] == "ready"
    assert client.get("/status", params={"key": key}).json()["id"] == photo_id


def test_listing_is_newest_first_with_a_cursor(client: TestClient) -> None:
    ids = []
    for i in range(5):
        image = Image.new("RGB", (40 + i, 30), (i * 40, 0, 0))
        out = io.BytesIO()
        image.save(out, "PNG")
        ids.append(
            client.post(
                "/upload", files={"file": (f"{i}.png", out.getvalue(), "image/png")}
            ).json()["id"]
        )
    first = client.get("/photos", params={"limit": 3}).json()
    second = client.get("/photos", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [p["id"] for p in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None


def test_describe_and_delete(client: TestClient, memory_darkroom: Darkroom) -> None:
    photo = client.post("/upload", json={"content": _b64(corpus(JPEG)), "filename": "a.jpg"}).json()
    r = client.patch(f"/photos/{photo['id']}", json={"description": "a new text ✓"})
    assert r.status_code == 200 and r.json()["description"] == "a new text ✓"
    assert client.delete(f"/photos/{photo['id']}").status_code == 204
    assert client.get(f"/photos/{photo['id']}").status_code == 404
    assert memory_darkroom.originals.list() == [] and memory_darkroom.variants.list() == []


def test_presigned_upload_then_complete(client: TestClient) -> None:
    data = corpus("W02_webp_tree_1024.webp")
    ticket = client.post(
        "/uploads", json={"filename": "tree.webp", "content_type": "image/webp", "size": len(data)}
    ).json()
    assert ticket["method"] == "PUT"
    assert client.get(f"/photos/{ticket['id']}/status").json()["status"] == "uploading"
    assert client.post(ticket["complete_url"]).status_code == 404
    wrong_type = client.put(ticket["url"], content=data, headers={"Content-Type": "image/png"})
    assert wrong_type.status_code == 403
    put = client.put(ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200
    again = client.put(ticket["url"], content=data, headers=ticket["headers"])
    assert again.status_code == 409
    done = client.post(ticket["complete_url"])
    assert done.status_code == 200 and done.json()["status"] == "ready"
    assert done.json()["variants"]["w1024"]["width"] == 1024


def test_deleting_a_photo_takes_the_presigned_copies_of_it(client: TestClient) -> None:
    data = corpus(JPEG)
    first = client.post("/upload", json={"content": _b64(data)}).json()
    ticket = client.post("/uploads", json={"content_type": "image/jpeg", "size": len(data)}).json()
    assert client.put(ticket["url"], content=data, headers=ticket["headers"]).status_code == 200
    done = client.post(ticket["complete_url"])
    assert done.status_code == 200 and done.json()["duplicate"]
    assert client.get(f"/photos/{ticket['id']}").json()["duplicate_of"] == first["id"]
    assert client.delete(f"/photos/{first['id']}").status_code == 204
    assert client.get("/photos").json()["items"] == []
    assert client.get(f"/photos/{ticket['id']}").status_code == 404
    again = client.post(ticket["complete_url"])
    assert again.status_code == 404 and ticket["id"] in again.json()["message"]


def test_an_original_is_downloaded_as_what_its_bytes_are(client: TestClient) -> None:
    data = corpus(JPEG)
    ticket = client.post("/uploads", json={"filename": "a.png", "content_type": "image/png"}).json()
    assert client.put(ticket["url"], content=data, headers=ticket["headers"]).status_code == 200
    done = client.post(ticket["complete_url"])
    assert done.status_code == 200 and done.json()["content_type"] == "image/jpeg"
    for url in (done.json()["original_url"], f"/photos/{ticket['id']}/original"):
        original = client.get(url, follow_redirects=True)
        assert original.status_code == 200 and original.content == data
        assert original.headers["content-type"] == "image/jpeg"


def test_presigned_upload_refuses_tampering_expiry_and_size(
    client: TestClient, memory_darkroom: Darkroom
) -> None:
    memory_darkroom.gallery.max_upload_bytes = 1000
    ticket = client.post("/uploads", json={"content_type": "image/jpeg"}).json()
    url, headers = ticket["url"], ticket["headers"]
    assert (
        client.put(
            url.replace("max_bytes=1000", "max_bytes=9999"), content=b"x", headers=headers
        ).status_code
        == 403
    )
    assert client.put(url + "&expires=1", content=b"x", headers=headers).status_code == 403
    r = client.put(url, content=b"\xff\xd8\xff" + b"\0" * 2000, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert client.post("/uploads", json={"content_type": "text/html"}).status_code == 415
    assert (
        client.post("/uploads", json={"content_type": "image/jpeg", "size": 5000}).status_code
        == 413
    )


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"content": "not base64!!"}, 400, "bad_request"),
        ({"content": _b64(b"just some text, not a photo")}, 415, "unsupported"),
        ({"content": ""}, 415, "unsupported"),
        ({"filename": "x.jpg"}, 400, "bad_request"),
        ({"content": _b64(_png_claiming(30000, 30000))}, 422, "invalid_image"),
        ({"content": _b64(corpus(JPEG)[:5000])}, 422, "invalid_image"),
    ],
)
def test_bad_uploads_get_a_clear_4xx(
    client: TestClient, body: dict[str, str], status: int, error: str
) -> None:
    r = client.post("/upload", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and r.json()["message"]


def test_a_bomb_fails_with_its_reason_and_other_photos_carry_on(client: TestClient) -> None:
    bomb = client.post("/upload", json={"content": _b64(_png_claiming(30000, 30000))}).json()
    assert "30000×30000" in bomb["message"]
    assert bomb["photo"]["status"] == "failed"
    good = client.post("/upload", json={"content": _b64(corpus(JPEG))})
    assert good.status_code == 201


def test_a_photo_with_nothing_to_show_gets_no_share_link(client: TestClient) -> None:
    failed = client.post("/upload", json={"content": _b64(corpus(JPEG)[:5000])}).json()
    refused = client.post(f"/photos/{failed['photo']['id']}/shares", json={})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "conflict"
    assert "could not be processed" in refused.json()["message"]
    uploading = client.post("/uploads", json={"content_type": "image/jpeg"}).json()
    refused = client.post(f"/photos/{uploading['id']}/shares", json={})
    assert refused.status_code == 409 and "not been uploaded" in refused.json()["message"]


def test_a_share_link_is_made_without_a_body(client: TestClient) -> None:
    photo = client.post("/upload", json={"content": _b64(corpus(JPEG))}).json()
    made = client.post(f"/photos/{photo['id']}/shares")
    assert made.status_code == 201, made.text
    lives = datetime.fromisoformat(made.json()["expires_at"]) - datetime.fromisoformat(
        made.json()["created_at"]
    )
    assert lives == timedelta(days=7)


def test_wrong_content_types_and_bodies(client: TestClient) -> None:
    assert (
        client.post(
            "/upload", content=b"\xff\xd8\xff", headers={"Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    assert (
        client.post(
            "/upload", content=b"{", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    r = client.post("/upload", files={"other": ("a.jpg", corpus(JPEG), "image/jpeg")})
    assert r.status_code == 400 and "file" in r.json()["message"]


def test_a_body_over_the_limit_is_refused_while_streaming(
    client: TestClient, memory_darkroom: Darkroom
) -> None:
    limit = memory_darkroom.settings.max_upload_bytes * 4 // 3 + 64 * 1024

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // (1024 * 1024) + 2):
            yield b"A" * (1024 * 1024)

    r = client.post("/upload", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    big = client.patch(
        "/photos/x", content=b"{" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/photos/nope"),
        ("get", "/photos/nope/status"),
        ("delete", "/photos/nope"),
        ("get", "/photos/nope/original"),
        ("get", "/photos/nope/variants/thumb"),
        ("get", "/status?key=nope.jpg"),
        ("get", "/get?key=../../etc/passwd"),
        ("get", "/files/originals/../../etc/passwd"),
        ("get", "/files/nostore/a.jpg"),
        ("post", "/uploads/nope/complete"),
    ],
)
def test_unknown_ids_and_paths_are_404(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path)
    assert r.status_code in (404, 403), r.text
    assert r.json()["error"] in ("not_found", "forbidden")


def test_unsigned_and_tampered_file_urls_are_refused(client: TestClient) -> None:
    photo = client.post("/upload", json={"content": _b64(corpus(JPEG))}).json()
    url = photo["variants"]["thumb"]["url"]
    assert client.get(url.split("?")[0]).status_code == 403
    assert client.get(url.replace("signature=", "signature=x")).status_code == 403
    other = url.replace("/thumb-", "/w150-")
    assert client.get(other).status_code == 403


def test_seed_000_routes(client: TestClient) -> None:
    photo = client.post("/upload", json={"content": _b64(corpus(JPEG)), "key": "a.jpg"}).json()
    assert client.get("/list").json() == [photo["key"]]
    got = client.post("/get", json={"key": photo["key"]}).json()
    assert base64.b64decode(got["content"]) == corpus(JPEG)
    thumb = client.get("/thumbnails", params={"key": photo["key"]}).json()
    assert max(Image.open(io.BytesIO(base64.b64decode(thumb["content"]))).size) == 100
    assert client.post("/delete", json={"key": photo["key"]}).json()["status"] == "deleted"
    assert client.get("/list").json() == []


def test_seed_000_list_answers_a_bounded_page_and_links_the_next(
    memory_darkroom: Darkroom, client: TestClient
) -> None:
    """A large library's keys come 1000 at a time, never all in one answer."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made = [start + timedelta(seconds=i // 2) for i in range(2300)]
    for index, at in enumerate(made):
        photo_id = f"{index:032x}"
        memory_darkroom.catalog.add(
            Photo(photo_id, "local", keys.original_key(photo_id, at, "jpg"), "a.jpg", at, at)
        )
    pages = []
    answer = client.get("/list")
    while True:
        assert answer.status_code == 200
        pages.append(answer.json())
        if "link" not in answer.headers:
            assert "x-next-cursor" not in answer.headers
            break
        url, rel = answer.headers["link"].split("; ")
        assert rel == 'rel="next"' and url.startswith("<http") and url.endswith(">")
        assert f"cursor={answer.headers['x-next-cursor']}" in unquote(url)
        answer = client.get(url[1:-1])
    assert [len(page) for page in pages] == [1000, 1000, 300]
    newest_first = sorted(memory_darkroom.catalog.every(), key=_position)
    assert [key for page in pages for key in page] == [p.key for p in reversed(newest_first)]
    small = client.get("/list", params={"limit": 7})
    assert len(small.json()) == 7 and "cursor=" in small.headers["link"]
    assert client.get("/list", params={"limit": 1001}).status_code == 422


def _position(photo: Photo) -> tuple[datetime, str]:
    return photo.created_at, photo.id


def test_seed_000_get_bounds_what_is_stored_not_what_is_recorded(client: TestClient) -> None:
    """An upload not completed yet is recorded with no size, its bytes already stored."""
    big = 5 * 1024 * 1024
    ticket = client.post("/uploads", json={"content_type": "image/jpeg", "size": big}).json()
    sent = client.put(
        ticket["url"], content=b"\xff\xd8\xff" + bytes(big - 3), headers=ticket["headers"]
    )
    assert sent.status_code == 200
    for answer in (
        client.get("/get", params={"key": ticket["key"]}),
        client.post("/get", json={"key": ticket["key"]}),
    ):
        assert answer.status_code == 413 and answer.json()["error"] == "too_large"


def test_health_openapi_and_page(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    assert "/upload" in schema["paths"] and "/photos/{photo_id}" in schema["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "darkroom" in page.text


def test_the_page_asks_for_all_its_modules_at_once(client: TestClient) -> None:
    """Each module the page imports, however deep, is named in the page itself: a browser
    finds the imports of a module only once it has arrived, a round trip per level before
    the page can ask for its photos."""
    page = client.get("/").text
    entry = re.findall(r'<script type="module" src="([^"]+)"', page)
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)"', page))
    imported: set[str] = set()
    waiting = list(entry)
    while waiting:
        module = client.get(f"/{waiting.pop()}")
        assert module.status_code == 200
        for name in re.findall(r'(?:from|import)\s*\(?\s*"\./([^"]+)"', module.text):
            if name not in imported:
                imported.add(name)
                waiting.append(name)
    assert entry == ["app.js"] and len(imported) > 5
    assert preloaded == imported


def test_the_page_s_files_are_asked_after_again_before_each_use(client: TestClient) -> None:
    """No guessed lifetime: after an upgrade a browser would run the scripts it kept against
    the new API. Each is checked again instead, a 304 while it is the same."""
    for path in ("/", "/app.js", "/styles.css"):
        first = client.get(path)
        assert first.headers["cache-control"] == "no-cache", path
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.headers["cache-control"] == "no-cache", path


def test_an_expired_url_is_refused_even_when_correctly_signed(
    client: TestClient, memory_darkroom: Darkroom
) -> None:
    from urllib.parse import urlencode

    from darkroom.signing import Grant

    photo = client.post("/upload", json={"content": _b64(corpus(JPEG))}).json()
    grant = Grant("GET", "originals", photo["key"], int(time.time()) - 1)
    query = grant.query() | {"signature": memory_darkroom.signer.sign(grant)}
    r = client.get(f"/files/originals/{photo['key']}?{urlencode(query)}")
    assert r.status_code == 403 and "expired" in r.json()["message"]
