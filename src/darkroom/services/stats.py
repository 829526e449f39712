"""The figures of seed 000's dashboard for the last 24 hours, for `darkroom stats` and the
admin page: processing runs, errors and their rate, average and p99 durations, objects and
bytes per store, and the catalog's size."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from darkroom.ports import BlobStore, Catalog, RunLog, iterate_blobs

WINDOW = timedelta(hours=24)
ERROR_OUTCOMES = frozenset({"failed", "error"})


@dataclass(frozen=True, slots=True)
class StoreFigures:
    name: str
    objects: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Figures:
    since: datetime
    runs: int
    errors: int
    error_rate: float
    average_seconds: float
    p99_seconds: float
    stores: tuple[StoreFigures, ...]
    photos: Mapping[str, int]
    """Photos in the catalog by status."""

    @property
    def catalog_size(self) -> int:
        return sum(self.photos.values())


def figures(
    runs: RunLog, catalog: Catalog, stores: Mapping[str, BlobStore], now: datetime
) -> Figures:
    since = now - WINDOW
    recent = runs.since(since)
    durations = sorted(run.seconds for run in recent)
    errors = sum(run.outcome in ERROR_OUTCOMES for run in recent)
    return Figures(
        since=since,
        runs=len(recent),
        errors=errors,
        error_rate=errors / len(recent) if recent else 0.0,
        average_seconds=sum(durations) / len(durations) if durations else 0.0,
        p99_seconds=percentile(durations, 0.99),
        stores=tuple(store_figures(name, store) for name, store in stores.items()),
        photos=count_photos(catalog),
    )


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values; 0 for none."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def store_figures(name: str, store: BlobStore) -> StoreFigures:
    objects = size = 0
    for blob in iterate_blobs(store):
        objects += 1
        size += blob.size
    return StoreFigures(name, objects, size)


def count_photos(catalog: Catalog) -> dict[str, int]:
    return catalog.count_by_status()
