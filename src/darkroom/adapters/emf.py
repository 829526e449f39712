"""Processing figures for CloudWatch on Lambda, in the embedded metric format: one JSON line
on stdout per run, which CloudWatch Logs turns into metrics without any API call (and
without importing anything heavier than `json`)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from darkroom.domain import Run

NAMESPACE = "darkroom"


class EmfMeter:
    def __init__(self, namespace: str = NAMESPACE, out: TextIO | None = None) -> None:
        self.namespace = namespace
        self._out = out

    def record(self, run: Run) -> None:
        stages = {f"{stage.capitalize()}Seconds": seconds for stage, seconds in run.stages.items()}
        figures = {"ProcessingSeconds": run.seconds, **stages}
        units = [{"Name": name, "Unit": "Seconds"} for name in figures]
        line = {
            "_aws": {
                "Timestamp": int(run.finished_at.timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["Outcome"]],
                        "Metrics": [*units, {"Name": "Processed", "Unit": "Count"}],
                    }
                ],
            },
            "Outcome": run.outcome,
            "Processed": 1,
            **figures,
            "photo_id": run.photo_id,
            "correlation_id": run.correlation_id,
        }
        out = self._out or sys.stdout
        out.write(json.dumps(line) + "\n")
        out.flush()
