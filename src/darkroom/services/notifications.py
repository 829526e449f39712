"""Processing results told to every target set up, each on its own.

Each target is told right after the processing. One that cannot be reached gets a job of
its own (`notify:TARGET`) on the durable queue, retried with the queue's backoff and dead
after as many attempts as a processing job, then listed by `darkroom jobs`: a delivery
never fails, repeats or holds up the processing, nor keeps the other targets from being
told.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from darkroom import correlation
from darkroom.domain import NOTIFY, Job, Mail, Photo, PhotoStatus
from darkroom.errors import NotFound
from darkroom.ports import Catalog, JobQueue, Mailer, Notifier
from darkroom.services.gallery import utcnow

log = logging.getLogger("darkroom.notify")


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    """Unique among the targets; what the log and a retry's job kind call it: a scheme and
    a host, never a secret."""
    notifier: Notifier


class Notifications:
    """The `Notifier` the processor talks to. Never raises."""

    def __init__(
        self,
        targets: Sequence[Target],
        queue: JobQueue,
        catalog: Catalog,
        *,
        retry_delay: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.targets = tuple(targets)
        self._queue = queue
        self._catalog = catalog
        self._retry_delay = retry_delay
        self._now = clock

    def photo_processed(self, photo: Photo) -> None:
        for target in self.targets:
            try:
                target.notifier.photo_processed(photo)
            except Exception as exc:  # whatever the target's trouble, the others still get told
                self._again_later(target, photo, exc)

    def deliver_again(self, photo_id: str, kind: str) -> None:
        """A `notify:TARGET` job's attempt: raises when the target still cannot be reached,
        so that the queue retries it."""
        target = next((t for t in self.targets if NOTIFY + t.name == kind), None)
        if target is None:
            log.warning("photo %s: %s is no longer set up; not told", photo_id, kind)
            return
        try:
            photo = self._catalog.get(photo_id)
        except NotFound:
            log.info("photo %s: gone before %s was told", photo_id, target.name)
            return
        target.notifier.photo_processed(photo)
        log.info("photo %s: %s told on a later attempt", photo_id, target.name)

    def _again_later(self, target: Target, photo: Photo, exc: Exception) -> None:
        now = self._now()
        job = Job(
            id=uuid.uuid4().hex,
            photo_id=photo.id,
            created_at=now,
            run_at=now + timedelta(seconds=self._retry_delay),
            correlation_id=correlation.current(),
            kind=NOTIFY + target.name,
        )
        try:
            self._queue.enqueue(job)
        except Exception:
            log.exception(
                "photo %s: notification to %s failed and cannot be queued", photo.id, target.name
            )
            return
        log.warning(
            "photo %s: notification to %s failed, job %s tries again: %s",
            photo.id,
            target.name,
            job.id,
            exc,
        )


class MailNotifier:
    """A mail per processed photo to one address, through the `Mailer` set up."""

    def __init__(self, mailer: Mailer, to: str) -> None:
        self.mailer = mailer
        self.to = to

    def photo_processed(self, photo: Photo) -> None:
        self.mailer.send(Mail(self.to, subject(photo), body(photo)))


def subject(photo: Photo) -> str:
    name = photo.filename or photo.id
    if photo.status is PhotoStatus.READY:
        return f"darkroom: {name} is ready"
    return f"darkroom: {name} could not be processed"


def body(photo: Photo) -> str:
    lines = [f"Photo {photo.id} ({photo.filename or 'no name'}), original {photo.key}"]
    if photo.status is PhotoStatus.READY:
        lines.append(f"Ready: {photo.width}×{photo.height} pixels, {len(photo.variants)} variants")
        lines += [f"  {v.name}: {v.width}×{v.height} {v.key}" for v in photo.variants]
    else:
        lines.append(f"{photo.status.value.capitalize()}: {photo.reason or 'no reason given'}")
    return "\n".join(lines) + "\n"
