"""Figures and log lines: CloudWatch's embedded metric format, JSON log lines with the
correlation id, stage timing, and the p99 of the stats."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from darkroom import correlation, logs
from darkroom.adapters.emf import EmfMeter
from darkroom.domain import Run
from darkroom.services.stats import percentile
from darkroom.services.telemetry import Meters, Stages

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_a_run_becomes_one_embedded_metric_format_line() -> None:
    out = io.StringIO()
    EmfMeter(out=out).record(Run("p1", NOW, "ready", 0.5, {"render": 0.3}, "req-1"))
    line = json.loads(out.getvalue())
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert line["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)
    assert directive["Namespace"] == "darkroom" and directive["Dimensions"] == [["Outcome"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"ProcessingSeconds", "RenderSeconds", "Processed"}
    assert all(name in line for name in names)
    assert (line["Outcome"], line["ProcessingSeconds"], line["RenderSeconds"]) == (
        "ready",
        0.5,
        0.3,
    )
    assert (line["photo_id"], line["correlation_id"]) == ("p1", "req-1")


def test_json_log_lines_carry_the_correlation_id() -> None:
    logs.correlate_records()
    with correlation.bound("req-9"):
        record = logging.getLogger("darkroom.test").makeRecord(
            "darkroom.test", logging.INFO, __file__, 1, "photo %s: ready", ("p1",), None
        )
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "photo p1: ready" and line["correlation_id"] == "req-9"
    assert (line["level"], line["logger"]) == ("INFO", "darkroom.test")


def test_caller_ids_are_kept_only_when_sane() -> None:
    assert correlation.accept("req-1.2:3_x") == "req-1.2:3_x"
    for bad in (None, "", "a b", "x" * 65, "é"):
        assert len(correlation.accept(bad)) == 32
    assert correlation.current() == ""
    with correlation.bound("") as made:
        assert correlation.current() == made and len(made) == 32


def test_stages_add_up_and_a_failing_meter_does_not_stop_the_others() -> None:
    stages = Stages()
    for _ in range(2):
        with stages("write"):
            pass
    assert list(stages.seconds) == ["write"] and stages.seconds["write"] >= 0

    class Broken:
        def record(self, run: Run) -> None:
            raise OSError("disk full")

    out = io.StringIO()
    Meters([Broken(), EmfMeter(out=out)]).record(Run("p1", NOW, "ready", 0.1))
    assert json.loads(out.getvalue())["photo_id"] == "p1"


def test_p99_is_the_nearest_rank() -> None:
    assert percentile([], 0.99) == 0.0
    assert percentile([1.0], 0.99) == 1.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0 and percentile(values, 0.5) == 50.0
