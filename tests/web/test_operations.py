"""Operations in-process: `/metrics` in Prometheus' format, the correlation id of a request
on its answer, its job and its notification, and the admin page's figures."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from darkroom.bootstrap import Darkroom
from darkroom.domain import JobState
from darkroom.web.app import create_app
from tests.corpus import corpus

JPEG = "S01_canon_sd300_2mp.jpg"
WEBP = "W02_webp_tree_1024.webp"


@pytest.fixture
def client(memory_darkroom: Darkroom) -> Iterator[TestClient]:
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        yield client


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _counted(
    client: TestClient,
    done: Callable[[dict[tuple[str, tuple[tuple[str, str], ...]], float]], bool],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of the first scrape whose store and catalog figures pass `done` (a count
    made aside replaces the one shown when it is ready)."""
    deadline = time.monotonic() + 30
    while not done(samples := _samples(client)):
        assert time.monotonic() < deadline, "the count made aside never came"
        time.sleep(0.02)
    return samples


def test_metrics_count_requests_processing_jobs_stores_and_photos(
    memory_darkroom: Darkroom, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    # Stores and catalog are counted again after every scrape, not once a minute.
    monkeypatch.setattr(dr.counts, "kept_for", 0.0)
    uploaded = client.post("/upload?wait=false", files={"file": ("a.jpg", corpus(JPEG))})
    photo_id = uploaded.json()["id"]
    before = _samples(client)
    assert before[("darkroom_jobs", (("state", "queued"),))] == 1
    dr.worker().drain()
    for _ in range(3):
        assert client.get(f"/photos/{photo_id}").status_code == 200
    assert client.get("/photos/nope").status_code == 404
    # The first scrapes show the count made before the processing, while one is made aside.
    samples = _counted(client, lambda s: s.get(("darkroom_photos", (("status", "ready"),))) == 1)

    route = (("method", "GET"), ("route", "/photos/{photo_id}"))
    assert samples[("darkroom_http_requests_total", (*route, ("status", "200")))] == 3
    assert samples[("darkroom_http_requests_total", (*route, ("status", "404")))] == 1
    assert samples[("darkroom_http_request_duration_seconds_count", route)] == 4
    for stage in ("read", "render", "write", "record", "notify"):
        assert samples[("darkroom_processing_stage_seconds_count", (("stage", stage),))] == 1
    assert samples[("darkroom_processing_seconds_count", (("outcome", "ready"),))] == 1
    assert samples[("darkroom_jobs", (("state", "queued"),))] == 0
    original = dr.catalog.get(photo_id)
    stored = samples[("darkroom_store_bytes", (("store", "originals"),))]
    assert stored == len(corpus(JPEG)) == original.size
    assert samples[("darkroom_store_objects", (("store", "variants"),))] == 6
    assert samples[("darkroom_photos", (("status", "ready"),))] == 1


def test_a_request_id_follows_the_photo_to_its_job_and_worker(
    memory_darkroom: Darkroom, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    dr = memory_darkroom
    caplog.set_level("INFO", "darkroom")
    answer = client.post(
        "/upload?wait=false",
        files={"file": ("a.jpg", corpus(JPEG))},
        headers={"X-Request-Id": "req-1234"},
    )
    assert answer.headers["x-request-id"] == "req-1234"
    (job,) = dr.queue.jobs(frozenset({JobState.QUEUED}))
    assert job.correlation_id == "req-1234"
    dr.worker().drain()
    lines = {r.getMessage(): getattr(r, "correlation_id", "") for r in caplog.records}
    photo_id = answer.json()["id"]
    assert lines[f"photo {photo_id}: ready with 6 variants"] == "req-1234"
    fresh = client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
    assert (
        client.get("/healthz", headers={"X-Request-Id": "bad id\x7f"}).headers["x-request-id"]
        != "bad id\x7f"
    )


def test_the_admin_page_shows_the_last_day(memory_darkroom: Darkroom, client: TestClient) -> None:
    dr = memory_darkroom
    client.post("/upload?wait=false", files={"file": ("a.jpg", corpus(JPEG))})
    broken = corpus(JPEG)[:5000]
    client.post("/upload?wait=false", files={"file": ("b.jpg", broken)})
    dr.worker().drain()
    stats = client.get("/admin/stats").json()
    assert (stats["runs"], stats["errors"], stats["error_rate"]) == (2, 1, 0.5)
    assert 0 < stats["average_seconds"] <= stats["p99_seconds"]
    assert stats["catalog_size"] == 2 and stats["photos"] == {"ready": 1, "failed": 1}
    variants = next(s for s in stats["stores"] if s["name"] == "variants")
    assert variants["objects"] == 6 and variants["bytes"] > 0
    page = client.get("/admin")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Processing runs</th><td>2</td>" in page.text and "1 (50.0%)" in page.text
    assert "<script" not in page.text


def test_stores_are_listed_once_a_minute_for_admin_page_stats_and_metrics(
    memory_darkroom: Darkroom, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    client.post("/upload?wait=false", files={"file": ("a.jpg", corpus(JPEG))})
    dr.worker().drain()
    listings = {"originals": 0, "variants": 0}
    counted = {"status": 0}
    for name, store in (("originals", dr.originals), ("variants", dr.variants)):
        listed = store.list

        def counting(*args: Any, _name: str = name, _list: Any = listed, **kwargs: Any) -> Any:
            listings[_name] += 1
            return _list(*args, **kwargs)

        monkeypatch.setattr(store, "list", counting)
    by_status = dr.catalog.count_by_status

    def count_by_status() -> dict[str, int]:
        counted["status"] += 1
        return by_status()

    monkeypatch.setattr(dr.catalog, "count_by_status", count_by_status)

    first = client.get("/admin/stats").json()
    once = dict(listings)
    assert once == {"originals": 2, "variants": 2}  # a page, then an empty one
    pages = []
    for _ in range(3):
        assert client.get("/admin/stats").json()["stores"] == first["stores"]
        pages.append(client.get("/admin").text)
        assert client.get("/metrics").status_code == 200
    # Before, each of the 10 requests listed both stores and counted the catalog again.
    assert listings == once and counted == {"status": 1}
    assert all("Stores and catalog counted at" in page for page in pages)
    assert first["counted_at"] and 0 <= first["counted_seconds_ago"] < 60
    assert first["counting_seconds"] >= 0 and first["catalog_size"] == 1

    client.post("/upload?wait=false", files={"file": ("b.webp", corpus(WEBP))})
    monkeypatch.setattr(dr.counts, "kept_for", 0.0)  # a minute later
    # The kept figures, saying when they were made, while a count is made aside; before,
    # this request waited for it (5 s at 20 000 photos on a disk).
    stale = client.get("/admin/stats").json()
    assert (stale["catalog_size"], stale["counted_at"]) == (1, first["counted_at"])
    monkeypatch.setattr(dr.counts, "kept_for", 60.0)
    deadline = time.monotonic() + 30
    while client.get("/admin/stats").json()["catalog_size"] != 2:
        assert time.monotonic() < deadline, "the count made aside never came"
        time.sleep(0.02)
    assert listings == {"originals": 4, "variants": 4} and counted == {"status": 2}
