"""`darkroom reprocess`: a job for each photo whose variants are out of date and, where the
queue's broker hands jobs to consumers of its own, a watch on those photos alone."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from darkroom.domain import Photo, PhotoStatus
from darkroom.ports import BlobStore, Catalog
from darkroom.services.gallery import Gallery

_NOTHING_TO_RENDER = frozenset({PhotoStatus.DUPLICATE, PhotoStatus.UPLOADING})
_READ = 100
"""Photos one catalog read of the watch asks for: one DynamoDB BatchGetItem."""
_LOOKS = 10
"""Originals looked for at once: each look is a round trip to S3 (20–50 ms), one after
another an hour for 100 000 photos. As many as boto3 keeps connections open to a host."""
_FIRST_PAUSE = 1.0
_LONGEST_PAUSE = 30.0


def _pause(seconds: float) -> None:
    time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Queued:
    versions: dict[str, int]
    """The version of each photo queued, by id."""
    without_original: list[Photo]
    """Photos ready with older variants whose original is gone from the store: the
    processor leaves such a photo as it is, to its removal, so none is queued."""


@dataclass(frozen=True, slots=True)
class Watched:
    failed: list[Photo]
    unfinished: list[Photo]
    """Neither done nor failed when the watch gave up."""


class Reprocessing:
    def __init__(
        self, catalog: Catalog, gallery: Gallery, originals: BlobStore, recipe: str
    ) -> None:
        self._catalog = catalog
        self._gallery = gallery
        self._originals = originals
        self._recipe = recipe

    def queue(self) -> Queued:
        """A job for each photo that has something to render again (a failed one too),
        read as the catalog gives them. A photo ready with the variants of the current
        settings, a duplicate or an upload still waiting for its bytes needs none; one
        ready whose original is gone gets none either (see `Queued`), where its job would
        leave it as it is, and the watch wait for it in vain."""
        versions: dict[str, int] = {}
        without_original: list[Photo] = []
        outdated = (
            photo
            for photo in self._catalog.every()
            if photo.status not in _NOTHING_TO_RENDER and not self._current(photo)
        )
        with ThreadPoolExecutor(_LOOKS, thread_name_prefix="reprocess") as pool:
            while batch := list(itertools.islice(outdated, _LOOKS * 4)):
                for photo, renderable in zip(batch, pool.map(self._renderable, batch), strict=True):
                    if not renderable:
                        without_original.append(photo)
                        continue
                    self._gallery.enqueue(photo.id)
                    versions[photo.id] = photo.version
        return Queued(versions, without_original)

    def _renderable(self, photo: Photo) -> bool:
        """Whether the processor would render `photo` again: not where it is ready and its
        original is gone."""
        return photo.status is not PhotoStatus.READY or self._originals.head(photo.key) is not None

    def watch(
        self,
        queued: dict[str, int],
        patience: float,
        settled: Callable[[int], object],
        *,
        between: Callable[[float], object] | None = None,
        working: Callable[[list[str]], set[str]] | None = None,
    ) -> Watched:
        """Reads the photos `queued` not yet done, a hundred a read, until each is ready with
        the current variants, a duplicate, failed anew, or deleted: every second while they
        are being done, half as long again after each round in which none was, up to 30 s,
        calling `between` with the seconds to wait (sleeping them, without it). Gives up
        once none has been done for `patience` seconds. `settled` is told how many each
        round saw done. With `working` (those of the ids a worker is on now, asked before
        each read), a photo not done that no worker is on is no longer waited for: its job
        waits for a retry."""
        waiting = dict(queued)
        failed: list[Photo] = []
        idle: list[Photo] = []
        pause = _FIRST_PAUSE
        last_done = time.monotonic()
        while waiting:
            done = 0
            busy = None if working is None else working(list(waiting))
            for photo_id, photo in self._read(list(waiting)):
                if photo is None or self._settled(photo, waiting[photo_id]):
                    del waiting[photo_id]
                    done += 1
                    if photo is not None and photo.status is PhotoStatus.FAILED:
                        failed.append(photo)
                elif busy is not None and photo_id not in busy:
                    del waiting[photo_id]
                    idle.append(photo)
            now = time.monotonic()
            if done:
                settled(done)
                last_done, pause = now, _FIRST_PAUSE
            elif now - last_done >= patience:
                break
            if waiting:
                (between or _pause)(min(pause, patience - (now - last_done)))
                pause = min(pause * 1.5, _LONGEST_PAUSE)
        unfinished = [p for _, p in self._read(list(waiting)) if p is not None]
        return Watched(failed, idle + unfinished)

    def _read(self, photo_ids: list[str]) -> Iterable[tuple[str, Photo | None]]:
        for at in range(0, len(photo_ids), _READ):
            part = photo_ids[at : at + _READ]
            found = self._catalog.get_many(part)
            yield from ((photo_id, found.get(photo_id)) for photo_id in part)

    def _settled(self, photo: Photo, queued_version: int) -> bool:
        if photo.status is PhotoStatus.FAILED:
            # Failed before it was queued, it stays so until its job begins.
            return photo.version > queued_version
        return photo.status is PhotoStatus.DUPLICATE or self._current(photo)

    def _current(self, photo: Photo) -> bool:
        return photo.status is PhotoStatus.READY and photo.recipe == self._recipe
