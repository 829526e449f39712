"""The figures of seed 000's dashboard for the last 24 hours, for `darkroom stats` and the
admin page: processing runs, errors and their rate, average and p99 durations, objects and
bytes per store, and the catalog's size.

Counting the stores lists every object they hold (a few seconds at 20 000 photos on a
disk, hundreds of LIST requests on S3): the server keeps its counts for `KEPT_FOR` seconds
in one `KeptCounts`, which the admin page, `/admin/stats` and `/metrics` share, and makes
them again aside while the old ones are shown."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from darkroom.ports import BlobStore, Catalog, RunLog, iterate_blobs
from darkroom.services.gallery import utcnow

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
ERROR_OUTCOMES = frozenset({"failed", "error"})
KEPT_FOR = 60.0
"""Seconds after which the server's counts of stores and catalog are made again."""


@dataclass(frozen=True, slots=True)
class StoreFigures:
    name: str
    objects: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Counts:
    """What stores and catalog held when they were counted."""

    stores: tuple[StoreFigures, ...]
    photos: Mapping[str, int]
    """Photos in the catalog by status."""
    at: datetime
    """When the counting began."""
    seconds: float
    """How long it took."""


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
    counted_at: datetime
    """When stores and catalog were counted (runs are read at each call)."""
    counting_seconds: float
    """How long that count took."""

    @property
    def catalog_size(self) -> int:
        return sum(self.photos.values())


def figures(runs: RunLog, counts: Counts, now: datetime) -> Figures:
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
        stores=counts.stores,
        photos=counts.photos,
        counted_at=counts.at,
        counting_seconds=counts.seconds,
    )


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values; 0 for none."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="darkroom-counts", daemon=True).start()


def count(
    catalog: Catalog,
    stores: Mapping[str, BlobStore],
    *,
    wall: Callable[[], datetime] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Counts:
    """Counts now: every object of every store listed, the catalog counted by status."""
    at = (wall or utcnow)()
    started = clock()
    found = tuple(store_figures(name, store) for name, store in stores.items())
    photos = catalog.count_by_status()
    return Counts(found, photos, at, clock() - started)


class KeptCounts:
    """`count` made at most once per `kept_for` seconds and shared in between. Only the very
    first caller (and whoever comes while it counts) waits for a count: once the kept one is
    older than `kept_for`, callers get it at once, saying when it was made, while one count
    runs `aside` (in a thread of its own) to replace it; never two at once."""

    def __init__(
        self,
        catalog: Catalog,
        stores: Mapping[str, BlobStore],
        *,
        kept_for: float = KEPT_FOR,
        wall: Callable[[], datetime] | None = None,
        clock: Callable[[], float] = time.monotonic,
        aside: Callable[[Callable[[], None]], object] = _in_a_thread,
    ) -> None:
        self.kept_for = kept_for
        self._catalog = catalog
        self._stores = stores
        self._wall = wall
        self._clock = clock
        self._aside = aside
        self._lock = threading.Lock()
        self._first = threading.Lock()
        self._kept: tuple[float, Counts] | None = None
        self._refreshing = False

    def get(self) -> Counts:
        with self._lock:
            if self._kept is not None:
                made, counts = self._kept
                if self._clock() - made >= self.kept_for and not self._refreshing:
                    self._refreshing = self._put_aside()
                return counts
        with self._first:
            if self._kept is None:
                self._kept = self._count()
            return self._kept[1]

    def _put_aside(self) -> bool:
        """Whether a count was put aside to replace the kept one."""
        try:
            self._aside(self._refresh)
        except RuntimeError:
            # No thread to be had: the kept figures are shown, and the next caller tries again.
            log.exception("counting stores and catalog aside failed to start")
            return False
        return True

    def _refresh(self) -> None:
        try:
            counts = self._count()
        except Exception:
            # The kept figures stay, saying how old they are; the next caller tries again.
            log.exception("counting stores and catalog failed")
            counts = None
        with self._lock:
            if counts is not None:
                self._kept = counts
            self._refreshing = False

    def _count(self) -> tuple[float, Counts]:
        made = self._clock()
        return made, count(self._catalog, self._stores, wall=self._wall, clock=self._clock)


def store_figures(name: str, store: BlobStore) -> StoreFigures:
    objects = size = 0
    for blob in iterate_blobs(store):
        objects += 1
        size += blob.size
    return StoreFigures(name, objects, size)
