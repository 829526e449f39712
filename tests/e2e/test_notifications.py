"""The real server tells a webhook and a mail server about every processed photo, at once;
a webhook that refuses at first gets the result later from a job of its own, and the
photo is processed once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.corpus import corpus
from tests.e2e.conftest import Server
from tests.receivers import smtp_inbox, webhook_receiver

pytestmark = pytest.mark.e2e
SECRET = "e2e-webhook-secret-0123"


def test_ready_and_failed_photos_are_told_to_every_target(tmp_path: Path) -> None:
    with webhook_receiver() as hook, smtp_inbox() as (inbox, smtp_port):
        hook.refuse = 2
        server = Server(
            tmp_path / "data",
            env={
                "DARKROOM_NOTIFY": f"log,webhook+{hook.url},"
                f"smtp://127.0.0.1:{smtp_port}?to=ann@example.org",
                "DARKROOM_WEBHOOK_SECRET": SECRET,
                "DARKROOM_RETRY_BASE": "0.1",
            },
        )
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                good = client.post(
                    "/upload",
                    files={"file": ("good.jpg", corpus("S01_canon_sd300_2mp.jpg"))},
                    headers={"X-Request-Id": "upload-good-1"},
                )
                bad = client.post(
                    "/upload", files={"file": ("bad.jpg", b"\xff\xd8\xff" + b"0" * 99)}
                )
            assert good.status_code == 201, good.text
            assert bad.status_code == 422, bad.text
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(hook.deliveries) < 2:
                time.sleep(0.05)
        finally:
            server.stop()
    photo = good.json()
    bodies = {json.loads(d.body)["event"]: d for d in hook.deliveries}
    assert sorted(bodies) == ["photo.failed", "photo.ready"] and hook.refused == 2
    ready = bodies["photo.ready"]
    signed = ready.headers["X-Darkroom-Timestamp"].encode() + b"." + ready.body
    digest = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert ready.headers["X-Darkroom-Signature"] == f"sha256={digest}"
    told = json.loads(ready.body)
    assert told["id"] == photo["id"] and (told["width"], told["height"]) == (1600, 1200)
    assert {n: v["key"] for n, v in told["variants"].items()} == {
        n: v["url"].split("/files/variants/")[1].split("?")[0] for n, v in photo["variants"].items()
    }
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "darkroom: bad.jpg could not be processed",
        "darkroom: good.jpg is ready",
    ]
    assert told["correlation_id"] == ready.headers["X-Request-Id"] == "upload-good-1"
    log = server.log()
    assert log.count(f"photo {photo['id']}: ready") == 1
    assert "notification to webhook 127.0.0.1" in log and "dead after" not in log
    assert "told on a later attempt" in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    followed = [line["message"] for line in lines if line["correlation_id"] == "upload-good-1"]
    assert f"photo {photo['id']}: ready with 6 variants" in followed
    assert any("notification to webhook" in message for message in followed)
