"""Events that come twice, early, late or for a photo that is gone, and a photo deleted
while it is being processed, on the real server: each photo is processed once, and
nothing is left without its record."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from darkroom.domain import JobState
from tests.corpus import corpus
from tests.e2e.conftest import Server
from tests.faults.conftest import assert_consistent, settle

pytestmark = pytest.mark.e2e
JPEG = "S01_canon_sd300_2mp.jpg"
BIG = "L01_issue266_22mp.jpg"


def _beside(server: Server) -> Darkroom:
    """The server's own catalog and queue, reached from the test as a second process."""
    return build(Settings(data_dir=server.data, secret="e2e-secret-0123456789", workers=0))


def _drained(dr: Darkroom, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while dr.queue.jobs(frozenset({JobState.QUEUED, JobState.RUNNING})):
        assert time.monotonic() < deadline, "jobs still waiting"
        time.sleep(0.1)


def test_events_twice_early_and_late_process_each_photo_once(
    server: Server, client: httpx.Client
) -> None:
    dr = _beside(server)
    data = corpus(JPEG)
    ticket = client.post(
        "/uploads", json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)}
    ).json()
    photo_id = ticket["id"]
    # Early: completion and a processing job before the bytes have arrived.
    assert client.post(ticket["complete_url"]).status_code == 404
    dr.gallery.enqueue(photo_id)
    _drained(dr)
    assert client.get(f"/photos/{photo_id}/status").json()["status"] == "uploading"
    put = httpx.request(ticket["method"], ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200, put.text

    # Twice: four completions at once.
    answers: list[httpx.Response] = []

    def complete() -> None:
        with httpx.Client(timeout=60) as own:
            answers.append(own.post(ticket["complete_url"]))

    threads = [threading.Thread(target=complete) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [200] * 4
    photos = settle(server, [photo_id])
    # Late: a repeated event for a ready photo, and one for a photo deleted since.
    dr.gallery.enqueue(photo_id)
    gone = client.post("/upload", files={"file": ("b.png", corpus("N01_png16_724x1024.png"))})
    assert client.delete(f"/photos/{gone.json()['id']}").status_code == 204
    dr.gallery.enqueue(gone.json()["id"])
    _drained(dr)

    log = server.log()
    assert log.count(f"photo {photo_id}: ready with") == 1
    assert f"photo {photo_id}: already processed" in log
    assert f"photo {gone.json()['id']}: gone, nothing to process" in log
    assert client.get(f"/photos/{gone.json()['id']}").status_code == 404
    assert_consistent(dr.settings, photos)


def test_a_photo_deleted_while_it_is_processed_leaves_nothing(
    server: Server, client: httpx.Client
) -> None:
    dr = _beside(server)
    keep = client.post("/upload", files={"file": ("keep.jpg", corpus(JPEG))}).json()
    photo_id = client.post("/upload?wait=false", files={"file": ("big.jpg", corpus(BIG))}).json()[
        "id"
    ]
    deadline = time.monotonic() + 30
    while client.get(f"/photos/{photo_id}/status").json()["status"] != "processing":
        assert time.monotonic() < deadline, "never saw the photo being processed"
        time.sleep(0.005)
    assert client.delete(f"/photos/{photo_id}").status_code == 204
    _drained(dr)

    assert client.get(f"/photos/{photo_id}").status_code == 404
    assert not (server.data / "variants" / photo_id).exists()
    assert [p.name for p in (server.data / "originals").iterdir()] == [Path(keep["key"]).name]
    assert_consistent(dr.settings, {keep["id"]: keep})
