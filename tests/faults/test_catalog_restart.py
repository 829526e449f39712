"""The catalog's database (a PostgreSQL cluster of the test's own) stops and starts again
while uploads go on: uploads meanwhile are refused with 503, none is lost once accepted,
and processing carries on where it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.config import Settings
from tests.e2e.conftest import Server
from tests.faults.conftest import FAULT_ENV, PrivatePostgres, assert_consistent, through_fault

pytestmark = pytest.mark.e2e


def test_the_catalog_database_stops_and_starts_while_uploads_go_on(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    server = Server(tmp_path / "data", env=FAULT_ENV | {"DARKROOM_CATALOG": postgres.url})
    settings = Settings(
        data_dir=server.data, catalog=postgres.url, secret="e2e-secret-0123456789", workers=0
    )
    server.start()
    try:
        photos = through_fault(server, postgres.stop, postgres.start)
        assert {p["status"] for p in photos.values()} == {"ready"}, server.log()[-3000:]
        assert_consistent(settings, photos)
    finally:
        server.stop()
