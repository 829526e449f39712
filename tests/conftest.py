"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings


@pytest.fixture
def memory_darkroom(tmp_path: Path) -> Iterator[Darkroom]:
    """darkroom on memory adapters; nothing runs in the background."""
    dr = build(
        Settings(
            data_dir=tmp_path,
            originals="memory://",
            variants_store="memory://variants",
            catalog="memory://",
            queue="memory",
            notify="memory",
            secret="test-secret-of-sixteen+",
            workers=0,
        )
    )
    yield dr
    dr.stop_workers()
