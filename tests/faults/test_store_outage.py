"""The object store (an `rclone serve s3` of the test's own) refuses everything for a while:
uploads meanwhile are refused with 503, processing caught in the outage is retried, and
every accepted photo ends ready with all its objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.config import Settings
from tests.aws.servers import RCLONE_KEY, RCLONE_SECRET, REGION
from tests.e2e.conftest import Server
from tests.faults.conftest import FAULT_ENV, PrivateS3, assert_consistent, through_fault

pytestmark = pytest.mark.e2e


def test_the_store_goes_away_and_comes_back_while_uploads_go_on(
    s3_server: PrivateS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = {
        "AWS_ACCESS_KEY_ID": RCLONE_KEY,
        "AWS_SECRET_ACCESS_KEY": RCLONE_SECRET,
        "AWS_DEFAULT_REGION": REGION,
    }
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    stores = {
        "originals": f"s3://originals?endpoint_url={s3_server.endpoint}&upload=put",
        "variants_store": f"s3://variants?endpoint_url={s3_server.endpoint}&upload=put",
    }
    env = {f"DARKROOM_{name.upper()}": url for name, url in stores.items()}
    server = Server(tmp_path / "data", env=FAULT_ENV | env)
    settings = Settings.model_validate(
        {"data_dir": server.data, "secret": "e2e-secret-0123456789", "workers": 0} | stores
    )
    server.start()
    try:
        photos = through_fault(server, s3_server.stop, s3_server.start)
        assert {p["status"] for p in photos.values()} == {"ready"}, server.log()[-3000:]
        assert_consistent(settings, photos)
    finally:
        server.stop()
