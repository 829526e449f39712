"""How long processing takes, stage by stage, told to every meter set up (the run log that
`darkroom stats` reads, Prometheus, CloudWatch). A meter's trouble never fails a job."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from darkroom.domain import Run
from darkroom.ports import Meter

log = logging.getLogger(__name__)


class Stages:
    """Seconds spent in each named stage of one processing; a stage entered twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.seconds[stage] = self.seconds.get(stage, 0.0) + spent


class Meters:
    def __init__(self, meters: Sequence[Meter]) -> None:
        self.meters = tuple(meters)

    def record(self, run: Run) -> None:
        for meter in self.meters:
            try:
                meter.record(run)
            except Exception:  # figures are not worth a failed job
                log.warning(
                    "photo %s: a meter could not record its run", run.photo_id, exc_info=True
                )
