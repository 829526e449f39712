"""`kill -9` the server while it processes; started again, it finishes every photo once."""

from __future__ import annotations

import time

import httpx
import pytest

from darkroom.bootstrap import build
from darkroom.config import Settings
from tests.corpus import corpus
from tests.e2e.conftest import Server
from tests.e2e.test_gallery import _files, _rows
from tests.faults.conftest import assert_consistent

pytestmark = pytest.mark.e2e

BIG = [
    "L01_issue266_22mp.jpg",
    "P02_japanese_shop_12mp_prog.jpg",
    "L04_galaxy_s7e_12mp.jpg",
    "L07_moto_g9_16mp.jpg",
    "O02_canon_1000d_10mp_o6.jpg",
    "M01_flickr_saw_6mp.jpg",
]


def test_killed_mid_processing_then_restarted(server: Server) -> None:
    # Uploaded with the worker stopped, then taken up all at once: uploads and a worker
    # racing each other left nothing pending by the time the last upload was in.
    server.stop()
    server.env = {"DARKROOM_WORKERS": "0"}
    server.start()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        ids = []
        for name in BIG:
            r = client.post("/upload?wait=false", files={"file": (name, corpus(name))})
            assert r.status_code in (201, 202), r.text
            ids.append(r.json()["id"])
    server.stop()
    server.env = {"DARKROOM_JOB_LEASE": "2"}
    server.start()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        caught = False
        deadline = time.monotonic() + 30
        while not caught and time.monotonic() < deadline:
            r = client.get("/photos/status", params={"ids": ",".join(ids)})
            statuses = [item["status"] for item in r.json()["items"]]
            caught = "processing" in statuses and "pending" in statuses
        assert caught, "never saw a photo being processed"
    server.kill()

    server.start()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        deadline = time.monotonic() + 90
        final: set[str] = set()
        while time.monotonic() < deadline:
            final = {client.get(f"/photos/{i}/status").json()["status"] for i in ids}
            if final == {"ready"}:
                break
            time.sleep(0.2)
        assert final == {"ready"}, server.log()[-3000:]
        listed = client.get("/photos", params={"limit": 100}).json()["items"]
    settings = Settings(data_dir=server.data, secret="e2e-secret-0123456789", workers=0)
    assert_consistent(settings, {p["id"]: p for p in listed})
    assert sorted(p["id"] for p in listed) == sorted(ids)
    assert len(_files(server.data / "originals")) == len(BIG)
    variants = _files(server.data / "variants")
    # A write the kill cut short may leave its temporary file, never an object: list()
    # skips it and no reader sees it. At most the one that was being written.
    partial = [p for p in variants if p.name.startswith(".partial-")]
    assert len(partial) <= 1, partial
    assert len(variants) - len(partial) == len(BIG) * 6
    doctor = build(settings).doctor()
    findings = doctor.examine(grace=0)
    assert [f.subject.rsplit("/", 1)[-1] for f in findings] == [p.name for p in partial]
    for finding in findings:
        doctor.repair(finding)
    assert len(_files(server.data / "variants")) == len(BIG) * 6
    assert _rows(server.data, "photos") == len(BIG)
