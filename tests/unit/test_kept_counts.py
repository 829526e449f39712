"""The server's one count of stores and catalog: made once at first, then made again aside
while the old one is shown, never twice at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from darkroom.adapters.memory import MemoryBlobStore, MemoryCatalog
from darkroom.errors import Unavailable
from darkroom.services.stats import KeptCounts
from darkroom.signing import UrlSigner

SIGNER = UrlSigner(b"test-secret-of-sixteen+")


class Aside:
    """Holds the work `KeptCounts` puts aside until the test runs it."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.waiting.append(work)

    def run(self) -> None:
        (work,) = self.waiting
        self.waiting.clear()
        work()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore("originals", SIGNER)


def _kept(store: MemoryBlobStore, clock: Clock, aside: Aside) -> KeptCounts:
    return KeptCounts(
        MemoryCatalog(),
        {"originals": store},
        wall=lambda: datetime.fromtimestamp(clock.now, UTC),
        clock=clock,
        aside=aside,
    )


def test_the_old_count_is_shown_while_one_is_made_aside(store: MemoryBlobStore) -> None:
    clock, aside = Clock(), Aside()
    counts = _kept(store, clock, aside)
    store.put("a", b"x", "image/jpeg")
    first = counts.get()  # the very first count is waited for
    assert first.stores[0].objects == 1 and not aside.waiting
    store.put("b", b"x", "image/jpeg")
    clock.now += 59
    assert counts.get() is first and not aside.waiting
    clock.now += 1
    # Before, this call listed every store itself (5 s at 20 000 photos on a disk).
    assert counts.get() is first
    assert counts.get() is first and counts.get() is first
    assert len(aside.waiting) == 1, "one count at a time"
    aside.run()
    again = counts.get()
    assert again.stores[0].objects == 2 and again.at == datetime.fromtimestamp(clock.now, UTC)
    assert not aside.waiting


def test_a_count_that_fails_aside_leaves_the_old_one(
    store: MemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, aside = Clock(), Aside()
    counts = _kept(store, clock, aside)
    first = counts.get()
    clock.now += 60
    assert counts.get() is first

    def away(*args: object, **kwargs: object) -> object:
        raise Unavailable("the store is away")

    monkeypatch.setattr(store, "list", away)
    aside.run()
    assert counts.get() is first  # and another try is put aside
    monkeypatch.undo()
    aside.run()
    assert counts.get() is not first


def test_a_count_that_cannot_be_put_aside_is_tried_again(store: MemoryBlobStore) -> None:
    """No thread to be had (a process at its limit of threads or pids): the kept count is
    shown, where the caller got an error and no count was ever made again."""
    clock, aside = Clock(), Aside()
    refused: list[Callable[[], None]] = []

    def no_thread(work: Callable[[], None]) -> None:
        if not refused:
            refused.append(work)
            raise RuntimeError("can't start new thread")
        aside(work)

    counts = KeptCounts(
        MemoryCatalog(),
        {"originals": store},
        wall=lambda: datetime.fromtimestamp(clock.now, UTC),
        clock=clock,
        aside=no_thread,
    )
    first = counts.get()
    store.put("a", b"x", "image/jpeg")
    clock.now += 60
    assert counts.get() is first and refused and not aside.waiting
    assert counts.get() is first and len(aside.waiting) == 1
    aside.run()
    assert counts.get().stores[0].objects == 1


def test_callers_of_the_first_count_share_it(
    store: MemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    listed = store.list
    calls: list[str] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        calls.append("list")
        entered.set()
        release.wait()
        return listed(*args, **kwargs)

    monkeypatch.setattr(store, "list", slow)
    counts = _kept(store, Clock(), Aside())
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(counts.get())) for _ in range(3)]
    threads[0].start()
    entered.wait()
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert len(got) == 3 and got[0] is got[1] is got[2]
    assert calls == ["list"]
