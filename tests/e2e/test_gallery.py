"""A newcomer's path: every corpus file through the real server, both ways, then deleted."""

from __future__ import annotations

import http.client
import io
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from darkroom.domain import DEFAULT_VARIANTS
from darkroom.imaging.engine import fit
from tests.corpus import corpus_files
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

SHOWN_SIZES = {"O02_canon_1000d_10mp_o6.jpg": (2592, 3888), "N01_png16_724x1024.png": (724, 1024)}


def _check_ready(client: httpx.Client, photo: dict[str, object], name: str) -> None:
    assert photo["status"] == "ready", (name, photo)
    size = (photo["width"], photo["height"])
    if name in SHOWN_SIZES:
        assert size == SHOWN_SIZES[name]
    variants = photo["variants"]
    assert isinstance(variants, dict) and set(variants) == {s.name for s in DEFAULT_VARIANTS}
    for spec in DEFAULT_VARIANTS:
        expected = fit(int(photo["width"]), int(photo["height"]), spec)  # type: ignore[call-overload]
        variant = variants[spec.name]
        assert (variant["width"], variant["height"]) == expected, (name, spec.name)
        got = client.get(variant["url"])
        assert got.status_code == 200, (name, spec.name, got.text)
        with Image.open(io.BytesIO(got.content)) as image:
            assert image.size == expected, (name, spec.name)
            assert "exif" not in image.info


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _rows(data: Path, table: str) -> int:
    with sqlite3.connect(data / "darkroom.db") as db:
        count: int = db.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: S608
        return count


def test_every_corpus_photo_both_ways(server: Server, client: httpx.Client) -> None:
    files = corpus_files()
    ids = []
    for path in files:
        r = client.post("/upload", files={"file": (path.name, path.read_bytes())})
        assert r.status_code == 201, (path.name, r.text)
        _check_ready(client, r.json(), path.name)
        ids.append(r.json()["id"])
    assert len(_files(server.data / "originals")) == len(files)

    for photo_id in ids:
        assert client.delete(f"/photos/{photo_id}").status_code == 204
    assert _files(server.data / "originals") == [] and _files(server.data / "variants") == []
    assert _rows(server.data, "photos") == 0

    for path in files:
        data = path.read_bytes()
        ticket = client.post(
            "/uploads",
            json={
                "filename": path.name,
                "content_type": _content_type(data),
                "size": len(data),
            },
        )
        assert ticket.status_code == 201, ticket.text
        body = ticket.json()
        put = httpx.request(body["method"], body["url"], content=data, headers=body["headers"])
        assert put.status_code == 200, put.text
        done = client.post(body["complete_url"])
        assert done.status_code == 200, (path.name, done.text)
        _check_ready(client, done.json(), path.name)
    listed = client.get("/photos", params={"limit": 200}).json()["items"]
    assert len(listed) == len(files)


def test_bad_input_leaves_the_server_working(server: Server, client: httpx.Client) -> None:
    good = next(p for p in corpus_files() if p.suffix == ".jpg").read_bytes()
    bad = [good[: len(good) // 3], b"\0" * 5000, b"GIF89a" + b"\xff" * 100, b"not an image"]
    for data in bad:
        r = client.post("/upload", files={"file": ("x.jpg", data)})
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["message"]
    ok = client.post("/upload", files={"file": ("good.jpg", good)})
    assert ok.status_code == 201 and ok.json()["status"] == "ready"
    assert client.get("/healthz").status_code == 200


def _content_type(data: bytes) -> str:
    from darkroom.imaging import detect

    return detect(data[:32]).content_type


def test_an_idle_connection_is_kept_for_a_proxys_next_request(server: Server) -> None:
    """A proxy in front (nginx, a load balancer) keeps idle connections to the server for
    60 s, and sends its next request on one: the server must not have closed it meanwhile
    (uvicorn's own 5 s did)."""
    proxy = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for pause in (0, 6):
            time.sleep(pause)
            proxy.request("GET", "/healthz")  # on the same connection: http.client makes no other
            answer = proxy.getresponse()
            assert answer.status == 200 and answer.read()
    finally:
        proxy.close()
