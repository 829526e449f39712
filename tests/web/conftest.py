"""darkroom with its own accounts (DARKROOM_AUTH=local), on memory adapters, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from darkroom.bootstrap import Darkroom, build
from darkroom.web.app import create_app
from tests.web.signing_in import local_settings


@pytest.fixture
def local_darkroom(tmp_path: Path) -> Iterator[Darkroom]:
    dr = build(local_settings(tmp_path))
    yield dr
    dr.stop_workers()


@pytest.fixture
def local_client(local_darkroom: Darkroom) -> Iterator[TestClient]:
    with TestClient(create_app(local_darkroom)) as client:
        yield client
