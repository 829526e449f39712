"""The Notifier contract: ready and failed photos are told, delivery trouble never raises."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from darkroom.adapters.log import LogNotifier, NullNotifier
from darkroom.adapters.memory import MemoryNotifier
from darkroom.domain import Photo, PhotoStatus, Variant
from darkroom.ports import Notifier

NOW = datetime(2026, 11, 23, tzinfo=UTC)
READY = Photo(
    "p1",
    "ann",
    "1_p1.jpg",
    "a.jpg",
    NOW,
    NOW,
    status=PhotoStatus.READY,
    width=40,
    height=30,
    variants=(Variant("thumb", "p1/thumb-1.jpg", 40, 30, "image/jpeg", 100),),
)
FAILED = Photo(
    "p2",
    "ann",
    "1_p2.jpg",
    "b.jpg",
    NOW,
    NOW,
    status=PhotoStatus.FAILED,
    reason="the JPEG header is damaged",
)


@pytest.fixture(params=["log", "null", "memory"])
def notifier(request: pytest.FixtureRequest) -> Notifier:
    makers: dict[str, type[Notifier]] = {
        "log": LogNotifier,
        "null": NullNotifier,
        "memory": MemoryNotifier,
    }
    return makers[request.param]()


def test_ready_and_failed_are_told_without_raising(notifier: Notifier) -> None:
    notifier.photo_processed(READY)
    notifier.photo_processed(FAILED)


def test_the_log_says_what_happened(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "darkroom.notify")
    LogNotifier().photo_processed(READY)
    LogNotifier().photo_processed(FAILED)
    assert '"event": "photo.ready"' in caplog.text and "p1/thumb-1.jpg" in caplog.text
    assert '"event": "photo.failed"' in caplog.text and "damaged" in caplog.text
