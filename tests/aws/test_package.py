"""`make package` (scripts/package-lambda.sh): the Lambda functions' code, with wheels for
Linux on arm64, as the template's `CodeUri` names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_AARCH64 = 183
"""ELF's `e_machine` for 64-bit Arm."""
_LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def _machine(library: Path) -> int:
    header = library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", library
    return int.from_bytes(header[18:20], "little")


def test_the_package_holds_darkroom_and_arm64_libraries(tmp_path: Path) -> None:
    """It failed before it began: pip takes no extras in a constraint (moto[server]), and
    pyvips is published as source alone, which a wheels-only install refuses."""
    environment = os.environ | {"BUILD": str(tmp_path), "PIP": f"{sys.executable} -m pip"}
    result = subprocess.run(
        [str(ROOT / "scripts" / "package-lambda.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    package = tmp_path / "lambda"
    assert (package / "darkroom" / "aws" / "handlers.py").is_file()
    for name in ("pyvips", "webp", "simplejpeg", "PIL", "pillow_heif", "boto3", "mangum"):
        assert (package / name).is_dir(), name
    libraries = [p for p in package.rglob("*.so*") if p.is_file()]
    assert any(p.parent.name == "webp" for p in libraries)
    assert {_machine(p) for p in libraries} == {_AARCH64}
    size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    assert size < _LAMBDA_UNZIPPED_LIMIT
