"""Metrics in Prometheus' text format for `GET /metrics`: requests, processing stages, jobs,
stores and catalog. The figures that take a scan (stores, catalog) come from the server's
`KeptCounts`, made at most once a minute and shared with the admin page, so neither a busy
scraper nor the admin page can keep the stores busy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from darkroom.domain import JobState, Run
from darkroom.ports import JobQueue
from darkroom.services.stats import KeptCounts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_COUNTED_JOBS = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.DEAD})


@dataclass(frozen=True, slots=True)
class Sources:
    """What the scrape-time figures are read from."""

    queue: JobQueue
    counts: KeptCounts


class PrometheusMetrics:
    """Implements `ports.Meter`; the web app feeds it requests."""

    def __init__(self, sources: Sources) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "darkroom_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "darkroom_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self._stages = Histogram(
            "darkroom_processing_stage_seconds",
            "Time one processing spent in each stage (read, render, write, record, notify).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self._runs = Histogram(
            "darkroom_processing_seconds",
            "Time to process one photo, by outcome (ready, failed, duplicate, error).",
            ["outcome"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Scanned(sources))

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests.labels(route, method, str(status)).inc()
        self._latency.labels(route, method).observe(seconds)

    def record(self, run: Run) -> None:
        self._runs.labels(run.outcome).observe(run.seconds)
        for stage, seconds in run.stages.items():
            self._stages.labels(stage).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Scanned(Collector):
    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        yield self._jobs()
        yield from self._counted()

    def _jobs(self) -> Metric:
        jobs = GaugeMetricFamily(
            "darkroom_jobs", "Jobs by state (queue depth: queued + running).", labels=["state"]
        )
        counts = self._sources.queue.count(_COUNTED_JOBS)
        for state in sorted(_COUNTED_JOBS):
            jobs.add_metric([state.value], counts[state])
        return jobs

    def _counted(self) -> list[Metric]:
        counts = self._sources.counts.get()
        objects = GaugeMetricFamily(
            "darkroom_store_objects", "Objects per store.", labels=["store"]
        )
        size = GaugeMetricFamily("darkroom_store_bytes", "Bytes per store.", labels=["store"])
        for found in counts.stores:
            objects.add_metric([found.name], found.objects)
            size.add_metric([found.name], found.bytes)
        photos = GaugeMetricFamily(
            "darkroom_photos", "Photos in the catalog by status.", labels=["status"]
        )
        for status, number in counts.photos.items():
            photos.add_metric([status], number)
        counted = GaugeMetricFamily(
            "darkroom_counted_timestamp_seconds",
            "When the store and catalog figures were counted (they are kept for a minute).",
        )
        counted.add_metric([], counts.at.timestamp())
        return [objects, size, photos, counted]
