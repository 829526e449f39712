"""Processing results written to the log: the notifier when nothing else is set up."""

from __future__ import annotations

import json
import logging

from darkroom import correlation
from darkroom.domain import Mail, Photo, PhotoStatus

log = logging.getLogger("darkroom.notify")


class LogNotifier:
    def photo_processed(self, photo: Photo) -> None:
        log.info("%s", json.dumps(message(photo), sort_keys=True))


class LogMailer:
    """Where no mail server is set up: the mail, links and all, goes to the log, so that a
    single-user install can still follow a verification or reset link."""

    def send(self, mail: Mail) -> None:
        logging.getLogger("darkroom.mail").warning(
            "mail to %s (no DARKROOM_MAIL server set): %s\n%s", mail.to, mail.subject, mail.body
        )


def message(photo: Photo) -> dict[str, object]:
    """What every notifier says about a processed photo (seed 004's success and failure),
    with the correlation id of the request that uploaded it."""
    return _told(photo) | {"correlation_id": correlation.current()}


def _told(photo: Photo) -> dict[str, object]:
    if photo.status is not PhotoStatus.READY:
        return {
            "event": "photo.failed",
            "id": photo.id,
            "key": photo.key,
            "status": str(photo.status),
            "reason": photo.reason,
        }
    return {
        "event": "photo.ready",
        "id": photo.id,
        "key": photo.key,
        "filename": photo.filename,
        "width": photo.width,
        "height": photo.height,
        "variants": {
            v.name: {"key": v.key, "width": v.width, "height": v.height} for v in photo.variants
        },
    }
