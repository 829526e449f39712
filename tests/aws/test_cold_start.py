"""The paths of a cold Lambda container: what they import and how long that takes. FastAPI
(≈ 205 ms) and SQLAlchemy (≈ 165 ms) must stay out of the processing path; NumPy, Pillow and
libvips (≈ 70 ms) out of the API's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

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
    measured = _cold(COLD_START, json.dumps(stack.drain(stack.queue_url)))
    print(f"\ncold start of the process path: {measured}")
    assert measured["answer"] == {"batchItemFailures": []}
    assert measured["loaded"] == [] and measured["boto3"]
    assert "KEY#cold.jpg" in stack.items()


API_COLD_START = """
import json, sys
import darkroom.aws.handlers as handlers
from tests.aws.lambda_events import api_v2
request = json.dumps({"filename": "a.jpg", "content_type": "image/jpeg", "size": 1000})
answers = [
    handlers.api(api_v2("GET", "/photos"), None)["statusCode"],
    handlers.api(api_v2("POST", "/uploads", request.encode()), None)["statusCode"],
]
imaging = ("numpy", "PIL", "pyvips", "pillow_heif", "simplejpeg")
print(json.dumps({
    "answers": answers,
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(imaging)),
}))
"""


def test_the_apis_path_imports_no_imaging_library(stack: Stack) -> None:
    """A listing and an upload's ticket, in the stack's environment (the Lambda's)."""
    assert _cold(API_COLD_START) == {"answers": [200, 201], "loaded": []}


def _cold(script: str, given: str = "") -> Any:
    """What `script`, run by a fresh interpreter given `given`, printed last (JSON)."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=given,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
