"""Rendering in child processes (multiprocessing): a decoder that crashes, or that the
kernel kills for the memory it takes, ends its child and fails that one photo, not the
server whose worker threads asked for it.

Each worker thread has a child of its own, so a child's end is blamed on the one photo it
was rendering. Children are started afresh (`spawn`): forking a process that runs threads
copies locks some thread may hold.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from darkroom.domain import VariantSpec
from darkroom.errors import InvalidImage, Unavailable
from darkroom.imaging import Developed, Limits, Watermark, develop
from darkroom.ports import Developer

log = logging.getLogger(__name__)


class ChildProcesses:
    def __init__(self, developer: Developer = develop) -> None:
        self._developer = developer
        self._context = multiprocessing.get_context("spawn")
        self._local = threading.local()
        self._pools: list[ProcessPoolExecutor] = []
        self._lock = threading.Lock()

    def __call__(
        self,
        data: bytes,
        specs: Sequence[VariantSpec],
        limits: Limits,
        include_gps: bool,
        watermark: Watermark | None,
    ) -> Developed:
        pool = self._pool()
        try:
            job = pool.submit(self._developer, data, specs, limits, include_gps, watermark)
            return job.result()
        except BrokenProcessPool:
            self._discard(pool)
            raise InvalidImage(
                "rendering this image ended the process rendering it"
                " (a decoder crashed, or it ran out of memory)"
            ) from None

    def warm(self) -> None:
        """Starts the calling thread's child, with the imaging libraries loaded: about a
        second the first photo would otherwise wait. A child that cannot start now is tried
        again for that photo."""
        try:
            self._pool()
        except Unavailable as exc:
            log.warning("%s; trying again with the first photo", exc)

    def close(self) -> None:
        """Ends every child, once the photos they are rendering are done."""
        with self._lock:
            pools, self._pools = self._pools, []
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def _pool(self) -> ProcessPoolExecutor:
        pool: ProcessPoolExecutor | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = ProcessPoolExecutor(
                max_workers=1, mp_context=self._context, initializer=_end_with_parent
            )
            try:
                # Started before any photo is given to it: a child that cannot start is
                # this machine's trouble (retried later), not the photo's.
                pool.submit(_started).result()
            except (BrokenProcessPool, ImportError):
                pool.shutdown(wait=False)
                raise Unavailable("cannot start a process to render photos in") from None
            self._local.pool = pool
            with self._lock:
                self._pools.append(pool)
        return pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        self._local.pool = None
        with self._lock:
            if pool in self._pools:
                self._pools.remove(pool)
        pool.shutdown(wait=False, cancel_futures=True)


def _started() -> int:
    """In the child: its id, once the engine and the libraries it renders with are loaded."""
    importlib.import_module("darkroom.imaging.engine")
    return os.getpid()


def _end_with_parent() -> None:
    """In the child: end when the process that started it does, however it ends (a child
    holds both ends of its own queues, so it would never see them close), and only then.

    The signals that stop a server reach its whole process group: Ctrl+C in a terminal, a
    closed terminal, `kill -- -PGID`, a service manager's stop. A child ended by one would
    fail the photo it renders as if a decoder had crashed; ignoring them, it finishes that
    photo while the server shuts down, and ends with it."""
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait_for_it(sentinel: int) -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=wait_for_it, args=(parent.sentinel,), daemon=True).start()
