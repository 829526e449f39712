"""Fixtures shared by every test layer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from darkroom.bootstrap import Darkroom, build
from darkroom.config import Settings
from tests.e2e.conftest import Server
from tests.receivers import Inbox, smtp_server


@pytest.fixture(autouse=True)
def _root_logging_kept() -> Iterator[None]:
    """The root logger as it was before each test: a command run in process (Typer's
    CliRunner) points it at a stderr of its own, closed once the command ends, and every
    later record in the run then failed to print, with a traceback of its own."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server, in process."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def users_server(tmp_path: Path, inbox: Inbox) -> Iterator[Server]:
    """The real server with its own accounts (DARKROOM_AUTH=local), mailing `inbox`."""
    running = Server(tmp_path / "data")
    running.env = {
        "DARKROOM_AUTH": "local",
        "DARKROOM_MAIL": f"smtp://127.0.0.1:{inbox.port}",
        "DARKROOM_MAIL_FROM": "darkroom <darkroom@gallery.test>",
        "DARKROOM_PUBLIC_URL": running.url,
    }
    running.start()
    yield running
    running.stop()
