"""Processing results told to every target set up, each retried with backoff on its own.

A target that cannot be reached is retried a few times, then given up with an error in
the log naming the photo and the target; it never fails or repeats the processing, and
it never keeps the other targets from being told.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from darkroom.domain import Mail, Photo, PhotoStatus
from darkroom.ports import Mailer, Notifier

log = logging.getLogger("darkroom.notify")


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    """What the log calls it: a scheme and a host, never a secret."""
    notifier: Notifier


class Notifications:
    """The `Notifier` the processor talks to. Never raises."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        attempts: int = 4,
        base_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.targets = tuple(targets)
        self._attempts = attempts
        self._base_delay = base_delay
        self._sleep = sleep

    def photo_processed(self, photo: Photo) -> None:
        for target in self.targets:
            self._deliver(target, photo)

    def _deliver(self, target: Target, photo: Photo) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                target.notifier.photo_processed(photo)
            except Exception as exc:  # whatever the target's trouble, the others still get told
                if attempt == self._attempts:
                    log.error(
                        "photo %s: notification to %s given up after %d attempts: %s",
                        photo.id,
                        target.name,
                        attempt,
                        exc,
                    )
                    return
                delay = self._base_delay * 2 ** (attempt - 1)
                log.warning(
                    "photo %s: notification to %s failed (attempt %d), again in %.1fs: %s",
                    photo.id,
                    target.name,
                    attempt,
                    delay,
                    exc,
                )
                self._sleep(delay)
            else:
                log.debug("photo %s: %s told", photo.id, target.name)
                return


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
