"""The processing path of a cold Lambda container: what it imports and how long that takes.
FastAPI (≈ 205 ms) and SQLAlchemy (≈ 165 ms) must stay out of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.aws.conftest import Stack
from tests.corpus import corpus

COLD_START = """
import json, sys, time
started = time.perf_counter()
import darkroom.aws.handlers as handlers
imported = time.perf_counter()
handlers.runtime()
built = time.perf_counter()
answer = handlers.process(json.loads(sys.stdin.read()), None)
processed = time.perf_counter()
heavy = ("fastapi", "starlette", "sqlalchemy", "mangum", "pydantic_core._pydantic_core")
print(json.dumps({
    "answer": answer,
    "import_ms": round((imported - started) * 1000),
    "build_ms": round((built - imported) * 1000),
    "first_event_ms": round((processed - built) * 1000),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in heavy[:4]),
    "boto3": "boto3" in sys.modules,
}))
"""


def test_the_processing_path_imports_neither_fastapi_nor_sqlalchemy(stack: Stack) -> None:
    stack.client("s3").put_object(
        Bucket=stack.originals, Key="cold.jpg", Body=corpus("S01_canon_sd300_2mp.jpg")
    )
    batch = stack.drain(stack.queue_url)
    result = subprocess.run(
        [sys.executable, "-c", COLD_START],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\ncold start of the process path: {measured}")
    assert measured["answer"] == {"batchItemFailures": []}
    assert measured["loaded"] == [] and measured["boto3"]
    assert "KEY#cold.jpg" in stack.items()
