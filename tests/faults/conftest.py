"""What the fault tests share: private servers they may stop (a PostgreSQL cluster of their
own, an `rclone serve s3`), uploads that go on while something is down, and the check
made after every fault."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkroom.bootstrap import build
from darkroom.config import Settings
from darkroom.domain import JobState
from darkroom.services.doctor import Problem
from tests.aws.servers import RCLONE_KEY, RCLONE_SECRET
from tests.corpus import corpus
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Server, free_port

server = e2e.server
client = e2e.client
FAULT_ENV = {"DARKROOM_RETRY_BASE": "0.2", "DARKROOM_JOB_ATTEMPTS": "10", "DARKROOM_JOB_LEASE": "5"}
"""Quick retries, enough of them to outlast a backend's restart."""
FILES = ["M01_flickr_saw_6mp.jpg", "S01_canon_sd300_2mp.jpg", "N01_png16_724x1024.png"]
PG_BIN = next(Path("/usr/lib/postgresql").glob("*/bin"))
FINAL = {"ready", "failed"}


def _as_postgres(*command: str) -> None:
    """PostgreSQL refuses to run as root; the cluster belongs to the `postgres` user."""
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


@dataclass
class PrivatePostgres:
    """A cluster of this test's own: the shared server other tests use is never stopped."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create(self) -> None:
        shutil.chown(self.root, "postgres")
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            *("-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "log")),
            *("-w", "start"),
        )

    def stop(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop")


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="darkroom-pg-")))
    cluster.create()
    cluster.start()
    yield cluster
    pg_ctl = str(PG_BIN / "pg_ctl")
    stop = ["runuser", "-u", "postgres", "--", pg_ctl, "-D", str(cluster.root / "data"), "stop"]
    subprocess.run([*stop, "-m", "immediate"], capture_output=True)
    shutil.rmtree(cluster.root, ignore_errors=True)


@dataclass
class PrivateS3:
    """`rclone serve s3` on a port of its own, stopped and started on the same port and data."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        rclone = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
        keys = f"{RCLONE_KEY},{RCLONE_SECRET}"
        address = f"127.0.0.1:{self.port}"
        serve = ["serve", "s3", "--auth-key", keys, "--addr", address, "--config", "/dev/null"]
        self.process = subprocess.Popen(
            [rclone, *serve, str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.endpoint, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("rclone serve s3 did not start")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def s3_server() -> Iterator[PrivateS3]:
    server = PrivateS3(Path(tempfile.mkdtemp(prefix="darkroom-s3-")))
    for bucket in ("originals", "variants"):
        (server.root / bucket).mkdir()
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@dataclass
class Uploads:
    """Uploads, one after another in a thread and whatever the answers, until stopped."""

    url: str
    files: list[str]
    accepted: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Uploads:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._thread is not None
        self._stop.set()
        self._thread.join(60)

    def wait_for(self, accepted: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < accepted and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.accepted) >= accepted, self.refused

    def wait_for_refusal(self, timeout: float = 60) -> None:
        """Until an upload has been refused: one was made while the fault lasted."""
        seen = len(self.refused)
        deadline = time.monotonic() + timeout
        while len(self.refused) == seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.refused) > seen, "no upload was refused"

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for index in itertools.count():
                if self._stop.is_set():
                    return
                name = self.files[index % len(self.files)]
                # The index makes every upload new bytes, never a duplicate of another.
                data = corpus(name) + index.to_bytes(4, "big")
                try:
                    answer = client.post("/upload?wait=false", files={"file": (name, data)})
                except httpx.TransportError:
                    self.refused.append(0)
                    continue
                if answer.status_code in (201, 202):
                    self.accepted.append(answer.json()["id"])
                else:
                    self.refused.append(answer.status_code)
                time.sleep(0.1)


def through_fault(
    server: Server, stop: Callable[[], None], start: Callable[[], None]
) -> dict[str, dict[str, Any]]:
    """Uploads go on while `stop` takes a backend away and `start` brings it back: those
    made meanwhile are refused with 503. Every accepted photo, once settled."""
    with Uploads(server.url, FILES) as uploads:
        uploads.wait_for(3)
        stop()
        uploads.wait_for_refusal()
        time.sleep(1)
        start()
        uploads.wait_for(len(uploads.accepted) + 4)
    assert set(uploads.refused) <= {503}, uploads.refused
    return settle(server, uploads.accepted)


def settle(server: Server, ids: list[str], timeout: float = 90) -> dict[str, dict[str, Any]]:
    """Every photo once it is `ready` or `failed`; fails the test when one never gets there."""
    photos: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while time.monotonic() < deadline:
            for photo_id in ids:
                if photos.get(photo_id, {}).get("status") not in FINAL:
                    answer = client.get(f"/photos/{photo_id}")
                    if answer.status_code == 200:
                        photos[photo_id] = answer.json()
            if all(photos.get(i, {}).get("status") in FINAL for i in ids):
                return photos
            time.sleep(0.2)
    stuck = {i: photos.get(i, {}).get("status") for i in ids}
    raise AssertionError(f"not settled: {stuck}\n{server.log()[-3000:]}")


def assert_consistent(
    settings: Settings, photos: dict[str, dict[str, Any]], timeout: float = 60
) -> None:
    """Every accepted upload `ready` or `failed` with a reason, no variant without a
    record, no record without its original, and no job stuck: while the server still runs,
    every queued or running job ends (one caught by the fault ends once its lease runs out
    and a worker takes it over)."""
    for photo in photos.values():
        assert photo["status"] in FINAL, photo
        assert photo["status"] == "ready" or photo["reason"], photo
    dr = build(settings)
    deadline = time.monotonic() + timeout
    while unfinished := dr.queue.jobs(frozenset({JobState.QUEUED, JobState.RUNNING})):
        assert time.monotonic() < deadline, f"jobs stuck: {unfinished}"
        time.sleep(0.2)
    # A kill can cut a write short: its temporary file is the doctor's to remove
    # (tests/unit/test_doctor.py shows that it does).
    findings = dr.doctor().examine(grace=0)
    assert [f for f in findings if f.problem is not Problem.UNFINISHED_WRITE] == []
