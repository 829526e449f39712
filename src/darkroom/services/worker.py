"""Runs queued jobs, processing or a notification's later delivery: retries with backoff,
dead after N attempts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from darkroom import correlation
from darkroom.domain import PROCESS, Job
from darkroom.ports import JobQueue
from darkroom.services.gallery import utcnow
from darkroom.services.notifications import Notifications
from darkroom.services.processor import Processor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 600.0

    def next_run(self, job: Job, now: datetime) -> datetime | None:
        """When to try again after a failed attempt, or None once attempts are used up."""
        if job.attempts >= self.attempts:
            return None
        delay = min(self.base_delay * 2 ** (job.attempts - 1), self.max_delay)
        return now + timedelta(seconds=delay)


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        processor: Processor,
        *,
        name: str,
        lease_seconds: float,
        retry: RetryPolicy,
        notifications: Notifications | None = None,
        wakeup: threading.Event | None = None,
        idle_poll: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._queue = queue
        self._processor = processor
        self.name = name
        self._lease = lease_seconds
        self._retry = retry
        self._notifications = notifications
        self._wakeup = wakeup or threading.Event()
        self._idle_poll = idle_poll
        self._now = clock

    def run_once(self) -> bool:
        """Handle one due job; False when there was none."""
        job = self._queue.claim(self.name, self._lease)
        if job is None:
            return False
        with correlation.bound(job.correlation_id):
            if job.attempts > self._retry.attempts:
                # The attempts ran out without one failing: each ended with its worker (the
                # process crashed, was killed, ran out of memory) and its lease ran out. One
                # more would end the same way, and take the process down again.
                self._dead(job, "every attempt stopped its worker before it finished")
                return True
            try:
                outcome = self._run(job)
            except Exception as exc:  # anything unforeseen is treated as transient: retry
                self._failed(job, exc)
            else:
                self._queue.complete(job.id)
                log.info("job %s: photo %s %s", job.id, job.photo_id, outcome)
        return True

    def _run(self, job: Job) -> str:
        if job.kind == PROCESS:
            return self._processor.process(job.photo_id)
        if self._notifications is None:
            raise RuntimeError(f"no notifications here to run a {job.kind} job")
        self._notifications.deliver_again(job.photo_id, job.kind)
        return "told"

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set. Queue trouble (the database restarting) is waited out."""
        while not stop.is_set():
            self._wakeup.clear()
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker %s: the queue is not answering; waiting", self.name)
                stop.wait(self._idle_poll)
                continue
            if not busy:
                self._wakeup.wait(self._idle_poll)

    def drain(self) -> int:
        """Run every due job now, in this thread; how many ran."""
        count = 0
        while self.run_once():
            count += 1
        return count

    def _failed(self, job: Job, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        retry_at = self._retry.next_run(job, self._now())
        if retry_at is None:
            self._dead(job, reason)
        else:
            self._queue.fail(job.id, reason, retry_at)
            log.warning(
                "job %s: photo %s attempt %d failed, again at %s: %s",
                job.id,
                job.photo_id,
                job.attempts,
                retry_at.isoformat(),
                reason,
            )

    def _dead(self, job: Job, reason: str) -> None:
        attempts = min(job.attempts, self._retry.attempts)
        self._queue.fail(job.id, reason, None)
        log.error(
            "job %s: photo %s %s dead after %d attempts: %s",
            job.id,
            job.photo_id,
            job.kind,
            attempts,
            reason,
        )
        if job.kind == PROCESS:
            self._processor.fail(job.photo_id, f"gave up after {attempts} attempts: {reason}")
