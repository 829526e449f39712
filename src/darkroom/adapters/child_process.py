"""Rendering in child processes (multiprocessing): a decoder that crashes, or that the
kernel kills for the memory it takes, ends its child and fails that one photo, not the
server whose worker threads asked for it.

Each worker thread has a child of its own, so a child's end is blamed on the one photo it
was rendering. Children are started afresh (`spawn`): forking a process that runs threads
copies locks some thread may hold.

A child's memory is bounded (see `data_limit`): a decode the engine's own limits did not
foresee fails that photo as too large, or as one that cannot be decoded, where it would
have taken the machine's memory, and the kernel would have killed whatever it chose.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from darkroom.domain import VariantSpec
from darkroom.errors import InvalidImage, TooLarge, Unavailable
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
            work = (data, specs, limits, include_gps, watermark)
            job = pool.submit(_within_memory, data_limit(limits), self._developer, work)
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


_DATA_BASE = 512 * 1024 * 1024
_DATA_PER_PIXEL = 20
"""The data a child may map (`RLIMIT_DATA`: its heap and private memory, where libvips, NumPy
and the decoders allocate): 2.5 GB at the default 100 MP limit. A photo at the pixel limit
takes under 1 GB at its peak (a 100 MP AVIF 943 MB, a progressive 4:4:4 JPEG 704 MB, a
16-bit interlaced RGBA PNG 530 MB): more than twice as much is left to each."""


def data_limit(limits: Limits) -> int:
    """The memory a child may take while it renders a photo within `limits`."""
    return _DATA_BASE + _DATA_PER_PIXEL * limits.max_pixels


_Work = tuple[bytes, Sequence[VariantSpec], Limits, bool, Watermark | None]
"""A `Developer`'s arguments."""


def _within_memory(limit: int, developer: Developer, work: _Work) -> Developed:
    """In the child: `developer`'s rendering of `work`, with the child's data bounded to
    `limit` bytes (never above a bound it was started with). Beyond it an allocation fails:
    Python's as `MemoryError`, libvips' and libjpeg's with their own errors, which the
    engine makes `TooLarge`; a library that aborts on a failed allocation (GLib's) ends the
    child, which fails the photo as a crash does."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        return developer(*work)
    except MemoryError:
        raise TooLarge(
            f"rendering this image needs more than the {limit // 2**20:,} MB it may take"
        ) from None


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
