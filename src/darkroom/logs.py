"""Logging set up at the edges: JSON lines for machines (a file, a pipe), text on a terminal;
every record carries the correlation id of the work it is about (`correlation_id`)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Literal

from darkroom import correlation

Format = Literal["auto", "json", "text"]
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s"
_installed = threading.Lock()
_factory_installed = False


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, correlation_id, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def correlate_records() -> None:
    """Every log record made from now on carries `correlation_id`, whatever handler formats
    it (ours, or Lambda's own JSON one, which prints a record's extra attributes)."""
    global _factory_installed
    with _installed:
        if _factory_installed:
            return
        make = logging.getLogRecordFactory()

        def correlated(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            record.correlation_id = correlation.current() or "-"
            return record

        logging.setLogRecordFactory(correlated)
        _factory_installed = True


def configure(level: str, fmt: Format = "auto") -> None:
    """Replace the root logger's handlers with one on stderr in the format asked for."""
    correlate_records()
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # libvips tells at INFO which vector path each operation takes: hundreds of lines a photo
    logging.getLogger("pyvips").setLevel(max(root.level, logging.WARNING))
