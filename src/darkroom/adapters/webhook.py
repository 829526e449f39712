"""Processing results POSTed as JSON to a URL, signed with HMAC-SHA256.

The receiver checks `X-Darkroom-Signature: sha256=HEX`, the HMAC of
`TIMESTAMP.BODY` (timestamp from `X-Darkroom-Timestamp`, body as sent) under the shared
secret, and may drop repeats by `X-Darkroom-Delivery`: a retried delivery keeps its id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import httpx

from darkroom.adapters.log import message
from darkroom.domain import Photo
from darkroom.errors import Unavailable


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        self.url = url
        self._secret = secret
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def photo_processed(self, photo: Photo) -> None:
        told = message(photo)
        body = json.dumps(told, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "darkroom-webhook",
            "X-Darkroom-Event": str(told["event"]),
            "X-Request-Id": str(told["correlation_id"]),
            # The record's version changes with every write, so this names one outcome.
            "X-Darkroom-Delivery": f"{photo.id}.{photo.version}",
            "X-Darkroom-Timestamp": timestamp,
            "X-Darkroom-Signature": signature(self._secret, timestamp, body),
        }
        host = urlsplit(self.url).netloc
        try:
            answer = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the webhook at {host} did not answer: {exc}") from exc
        if not answer.is_success:
            raise Unavailable(f"the webhook at {host} answered {answer.status_code}")
