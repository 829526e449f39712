"""Rendering in child processes: the same variants, and a crash fails one photo, not the
process that asked for it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from darkroom.adapters.child_process import ChildProcesses, data_limit
from darkroom.bootstrap import build
from darkroom.config import Settings
from darkroom.domain import DEFAULT_VARIANTS, VariantSpec
from darkroom.errors import InvalidImage, TooLarge
from darkroom.imaging import Developed, Limits, Watermark, develop
from tests.unit.imaging_helpers import corpus_bytes, png_flat

pytestmark = pytest.mark.timeout(120)

SPECS = (VariantSpec("w150", 150),)
CRASH = b"crash me"
GREEDY = b"take it all"


def _develop_or_crash(
    data: bytes,
    specs: Sequence[VariantSpec],
    limits: Limits,
    include_gps: bool,
    watermark: Watermark | None,
) -> Developed:
    """As a decoder with a bug would: the process ends at once, without a Python error. Or,
    for `GREEDY`, as one the engine's limits did not foresee: it maps 1 GB more than the
    child may take (without touching it: nothing is at stake where nothing bounds it)."""
    if data == CRASH:
        os.kill(os.getpid(), signal.SIGSEGV)
    if data == GREEDY:
        memory = np.empty(data_limit(limits) + 2**30, np.uint8)
        raise InvalidImage(f"mapped {memory.nbytes} bytes")
    return develop(data, specs, limits, include_gps, watermark)


@pytest.fixture
def children() -> Iterator[ChildProcesses]:
    made = ChildProcesses(_develop_or_crash)
    yield made
    made.close()


def test_a_child_renders_what_this_process_would(children: ChildProcesses) -> None:
    data = corpus_bytes("S01_canon_sd300_2mp.jpg")
    here = develop(data, SPECS, Limits(), False, None)
    there = children(data, SPECS, Limits(), False, None)
    assert there == here


def test_an_image_error_comes_back_as_itself(children: ChildProcesses) -> None:
    with pytest.raises(InvalidImage, match="damaged"):
        children(b"\xff\xd8\xff" + b"\x00" * 100, SPECS, Limits(), False, None)


def test_a_render_past_the_childs_memory_is_too_large_and_the_next_renders(
    children: ChildProcesses,
) -> None:
    with pytest.raises(TooLarge, match="needs more than the 2,419 MB it may take"):
        children(GREEDY, SPECS, Limits(), False, None)
    data = corpus_bytes("L01_issue266_22mp.jpg")
    assert children(data, SPECS, Limits(), False, None).variants[0].width == 150


def test_a_photo_at_the_pixel_limit_renders_within_the_childs_memory(
    children: ChildProcesses,
) -> None:
    """libvips' threads and NumPy under the child's bound: a 100 MP transparent PNG."""
    png = png_flat(10_000, 10_000, bytes((200, 100, 50, 128)) * 10_000)
    developed = children(png, DEFAULT_VARIANTS, Limits(), False, None)
    assert developed.info.has_alpha
    assert [v.width for v in developed.variants] == [100, 150, 320, 640, 1024, 600]


def test_a_crash_fails_that_photo_and_the_next_one_renders(children: ChildProcesses) -> None:
    with pytest.raises(InvalidImage, match="ended the process"):
        children(CRASH, SPECS, Limits(), False, None)
    data = corpus_bytes("S01_canon_sd300_2mp.jpg")
    assert children(data, SPECS, Limits(), False, None).variants[0].width == 150


def test_each_thread_has_a_child_of_its_own(children: ChildProcesses) -> None:
    """A crash is blamed on the photo its child was rendering, never on another thread's."""
    data = corpus_bytes("S01_canon_sd300_2mp.jpg")
    outcomes: dict[str, object] = {}

    def render(name: str, image: bytes) -> None:
        try:
            outcomes[name] = children(image, SPECS, Limits(), False, None).info.width
        except InvalidImage as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=render, args=("photo", data)),
        threading.Thread(target=render, args=("crash", CRASH)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["photo"] == 1600
    assert isinstance(outcomes["crash"], InvalidImage)


def _tell_where(
    data: bytes,
    specs: Sequence[VariantSpec],
    limits: Limits,
    include_gps: bool,
    watermark: Watermark | None,
) -> Developed:
    """Says, as an image error, which process renders, and whether the engine was loaded
    before the photo came."""
    loaded = "darkroom.imaging.engine" in sys.modules
    raise InvalidImage(f"pid {os.getpid()}, engine loaded {loaded}")


def test_a_warmed_thread_renders_its_first_photo_in_the_child_started_before() -> None:
    children = ChildProcesses(_tell_where)
    try:
        before = set(multiprocessing.active_children())
        children.warm()
        started = set(multiprocessing.active_children()) - before
        assert len(started) == 1
        (child,) = started
        with pytest.raises(InvalidImage, match=f"^pid {child.pid}, engine loaded True$"):
            children(b"photo", SPECS, Limits(), False, None)
        assert set(multiprocessing.active_children()) - before == started
    finally:
        children.close()


def _render_until_told(
    data: bytes,
    specs: Sequence[VariantSpec],
    limits: Limits,
    include_gps: bool,
    watermark: Watermark | None,
) -> Developed:
    """A render that says it has begun (a file `started` in the folder `data` names) and
    lasts until told to end (a file `end` there)."""
    folder = Path(data.decode())
    (folder / "started").touch()
    while not (folder / "end").exists():
        time.sleep(0.01)
    raise InvalidImage("rendered to the end")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_servers_process_group_leaves_the_render_to_finish(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """Ctrl+C, a closed terminal or a service manager's stop reach the child too: it renders
    on, and the photo is not failed as if its decoder had crashed."""
    children = ChildProcesses(_render_until_told)
    outcome: list[Exception] = []

    def render() -> None:
        try:
            children(str(tmp_path).encode(), SPECS, Limits(), False, None)
        except InvalidImage as exc:
            outcome.append(exc)

    try:
        children_before = set(multiprocessing.active_children())
        thread = threading.Thread(target=render)
        thread.start()
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline, "the render never began"
            time.sleep(0.01)
        (child,) = set(multiprocessing.active_children()) - children_before
        assert child.pid is not None
        os.kill(child.pid, stop)
        (tmp_path / "end").touch()
        thread.join(60)
        assert [str(exc) for exc in outcome] == ["rendered to the end"]
    finally:
        children.close()


_PARENT = """
import multiprocessing, sys, time
import numpy as np
from darkroom.adapters.child_process import ChildProcesses, data_limit
from darkroom.bootstrap import build
from darkroom.config import Settings
from darkroom.domain import VariantSpec
from darkroom.imaging import Limits
from tests.unit.imaging_helpers import corpus_bytes, png_flat
children = ChildProcesses()
children(corpus_bytes("S01_canon_sd300_2mp.jpg"), (VariantSpec("a", 100),), Limits(), False, None)
print(*(child.pid for child in multiprocessing.active_children()), flush=True)
time.sleep(60)
"""


def test_a_child_ends_when_its_parent_is_killed() -> None:
    """A server killed with SIGKILL leaves no renderer behind."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    (child,) = (int(pid) for pid in parent.stdout.readline().split())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to collect it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"


def test_the_servers_workers_start_their_children_before_any_photo(tmp_path: Path) -> None:
    dr = build(Settings(data_dir=tmp_path, secret="test-secret-of-sixteen+", workers=0))
    before = set(multiprocessing.active_children())
    dr.start_workers(2)
    try:
        deadline = time.monotonic() + 60
        while len(set(multiprocessing.active_children()) - before) < 2:
            assert time.monotonic() < deadline, "no child started"
            time.sleep(0.05)
    finally:
        dr.stop_workers()
    assert not set(multiprocessing.active_children()) - before
