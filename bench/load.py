"""Load on a real `darkroom serve` on 127.0.0.1, bounded in time.

1. Reads: the catalog is filled with `--photos` records (10 000 by default), then
   `--clients` threads list pages (`GET /photos?limit=50`, following cursors) and get single
   photos (`GET /photos/{id}`) for `--seconds`: p50/p99 latency and requests per second.
2. Uploads: corpus photos sent at `--rate` per second for `--upload-seconds`
   (`POST /upload?wait=false`, each made new bytes), and the time from the upload's start
   until its status is `ready`: p50/p99.

    .venv/bin/python -m bench.load                      # SQLite
    .venv/bin/python -m bench.load --catalog postgresql://postgres@127.0.0.1:5432/darkroom_bench

Prints one Markdown table; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from darkroom import keys
from darkroom.bootstrap import build
from darkroom.config import Settings
from darkroom.domain import Photo, PhotoStatus, Variant
from darkroom.services.stats import percentile

SECRET = "bench-secret-0123456789"
CORPUS = Path(os.environ.get("DARKROOM_CORPUS", "/work/shared/corpus"))
UPLOADS = [
    "S01_canon_sd300_2mp.jpg",
    "M01_flickr_saw_6mp.jpg",
    "L04_galaxy_s7e_12mp.jpg",
    "N01_png16_724x1024.png",
]
_BATCH = 500
SIZES = (
    ("thumb", 100),
    ("w150", 150),
    ("w320", 320),
    ("w640", 640),
    ("w1024", 1024),
    ("display", 800),
)
"""The default variants' names and widths, for the records the catalog is filled with."""


@dataclass
class Timings:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.seconds.setdefault(name, []).append(seconds)


def fill(settings: Settings, count: int) -> list[str]:
    """`count` ready photos with six variants each, written straight into the catalog."""
    dr = build(settings)
    start = datetime.now(UTC) - timedelta(days=30)
    ids = []
    for first in range(0, count, _BATCH):
        with dr.transactions.atomic():
            for index in range(first, min(count, first + _BATCH)):
                photo_id = keys.new_photo_id()
                made = start + timedelta(seconds=index)
                variants = tuple(
                    Variant(
                        name, f"{photo_id}/{name}-{index:016x}.jpg", w, w * 3 // 4, "image/jpeg", 9
                    )
                    for name, w in SIZES
                )
                dr.catalog.add(
                    Photo(
                        id=photo_id,
                        owner="local",
                        key=keys.original_key(photo_id, made, "jpg"),
                        filename=f"photo-{index}.jpg",
                        created_at=made,
                        updated_at=made,
                        status=PhotoStatus.READY,
                        content_type="image/jpeg",
                        size=1000,
                        width=4000,
                        height=3000,
                        variants=variants,
                    )
                )
                ids.append(photo_id)
    return ids


def reads(url: str, ids: list[str], clients: int, seconds: float) -> Timings:
    timings = Timings()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        chance = random.Random(seed)
        cursor: str | None = None
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.monotonic() < stop:
                started = time.perf_counter()
                if chance.random() < 0.5:
                    params = {"limit": "50"} | ({"cursor": cursor} if cursor else {})
                    answer = http.get("/photos", params=params)
                    cursor = answer.json().get("next_cursor")
                    name = "list (50 a page)"
                else:
                    answer = http.get(f"/photos/{chance.choice(ids)}")
                    name = "get one"
                answer.raise_for_status()
                timings.add(name, time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def uploads(url: str, rate: float, seconds: float, settle: float = 120) -> Timings:
    """Uploads at `rate` a second; each one's time from its start to `ready`."""
    timings = Timings()
    started: dict[str, float] = {}
    lock = threading.Lock()
    sending_done = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            due = time.monotonic()
            end = due + seconds
            for index in itertools.count():
                if due >= end:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                name = UPLOADS[index % len(UPLOADS)]
                data = (CORPUS / name).read_bytes() + index.to_bytes(4, "big")
                began = time.perf_counter()
                answer = http.post("/upload?wait=false", files={"file": (name, data)})
                answer.raise_for_status()
                with lock:
                    started[answer.json()["id"]] = began
                due += 1 / rate
        sending_done.set()

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + seconds + settle
    with httpx.Client(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            with lock:
                waiting = list(started.items())
            if sending_done.is_set() and not waiting:
                break
            for photo_id, began in waiting:
                status = http.get(f"/photos/{photo_id}/status").json()["status"]
                if status in ("ready", "failed"):
                    timings.add(f"upload → {status}", time.perf_counter() - began)
                    with lock:
                        del started[photo_id]
            time.sleep(0.02)
    sender.join()
    return timings


def serve(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (data.parent / "server.log").open("wb")
    command = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    process = subprocess.Popen(
        [sys.executable, "-m", "darkroom", *command],
        env=os.environ | env | {"DARKROOM_LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def row(backend: str, name: str, values: list[float], seconds: float | None) -> str:
    rps = f"{len(values) / seconds:.0f}" if seconds else "–"
    ordered = sorted(values)
    p50, p99 = (percentile(ordered, f) * 1000 for f in (0.5, 0.99))
    return f"| {backend} | {name} | {len(values)} | {p50:.1f} | {p99:.1f} | {rps} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="", help="a postgresql:// URL; SQLite otherwise")
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=2, help="uploads a second")
    parser.add_argument("--upload-seconds", type=float, default=20)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="darkroom-load-"))
    data = root / "data"
    # Every client comes from 127.0.0.1: the per-address rate limits would measure themselves.
    env = {"DARKROOM_SECRET": SECRET, "DARKROOM_RATE_LISTING": "0", "DARKROOM_RATE_UPLOAD": "0"}
    if args.catalog:
        env["DARKROOM_CATALOG"] = args.catalog
    settings = Settings(data_dir=data, secret=SECRET, workers=0, catalog=args.catalog)
    backend = "PostgreSQL" if args.catalog else "SQLite"
    print(f"filling the {backend} catalog with {args.photos} photos…", file=sys.stderr)
    ids = fill(settings, args.photos)
    server, url = serve(data, env)
    try:
        read = reads(url, ids, args.clients, args.seconds)
        sent = uploads(url, args.rate, args.upload_seconds)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    print("| catalog | what | requests | p50 ms | p99 ms | per second |")
    print("|---|---|---|---|---|---|")
    for name, values in sorted(read.seconds.items()):
        print(row(backend, name, values, args.seconds))
    for name, values in sorted(sent.seconds.items()):
        print(row(backend, f"{name} at {args.rate:g}/s", values, None))


if __name__ == "__main__":
    main()
