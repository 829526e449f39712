"""HMAC signatures for the URLs darkroom serves itself (filesystem and memory stores)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from darkroom.domain import SignedRequest
from darkroom.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Grant:
    """What a signed URL allows: one method on one key, within limits, until `expires`."""

    method: str
    store: str
    key: str
    expires: int
    content_type: str = ""
    max_bytes: int = 0
    download_name: str = ""

    def query(self) -> dict[str, str]:
        params = {"expires": str(self.expires)}
        if self.content_type:
            params["content_type"] = self.content_type
        if self.max_bytes:
            params["max_bytes"] = str(self.max_bytes)
        if self.download_name:
            params["name"] = self.download_name
        return params


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret

    def sign(self, grant: Grant) -> str:
        message = "\n".join(
            (
                grant.method,
                grant.store,
                grant.key,
                str(grant.expires),
                grant.content_type,
                str(grant.max_bytes),
                grant.download_name,
            )
        ).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(
        self, method: str, store: str, key: str, query: Mapping[str, str], now: float
    ) -> Grant:
        """The grant a URL's query carries, if its signature holds and it has not expired."""
        try:
            grant = Grant(
                method=method,
                store=store,
                key=key,
                expires=int(query["expires"]),
                content_type=query.get("content_type", ""),
                max_bytes=int(query.get("max_bytes", "0")),
                download_name=query.get("name", ""),
            )
            signature = query["signature"]
        except (KeyError, ValueError):
            raise Forbidden("this URL is not signed") from None
        # as bytes: compare_digest refuses strings with anything but ASCII in them
        given = signature.encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.sign(grant).encode()):
            raise Forbidden("the URL's signature does not match")
        if grant.expires < now:
            raise Forbidden("the URL has expired")
        return grant


def stable_expiry(now: float, expires_in: int, granularity: int = 900) -> int:
    """An expiry at least `expires_in` away, rounded up so that URLs handed out within the
    same window are identical and browsers can cache what they point to."""
    if expires_in < granularity * 2:
        return math.ceil(now + expires_in)
    return math.ceil((now + expires_in) / granularity) * granularity


FILES_PREFIX = "/files"
"""Where darkroom's web layer serves the stores it signs URLs for itself."""


def signed_request(signer: UrlSigner, grant: Grant) -> SignedRequest:
    """A root-relative URL on darkroom's own server; the web layer makes it absolute."""
    query = grant.query() | {"signature": signer.sign(grant)}
    url = f"{FILES_PREFIX}/{grant.store}/{quote(grant.key)}?{urlencode(query)}"
    headers = {"Content-Type": grant.content_type} if grant.method == "PUT" else {}
    return SignedRequest(
        url=url,
        method="PUT" if grant.method == "PUT" else "GET",
        headers=headers,
        fields={},
        expires_at=datetime.fromtimestamp(grant.expires, UTC),
    )


def presigned_get(
    signer: UrlSigner,
    store: str,
    key: str,
    expires_in: int,
    download_name: str | None = None,
    content_type: str | None = None,
) -> SignedRequest:
    """A GET of `key` in `store`, its expiry rounded so that URLs repeat and caches hit."""
    grant = Grant(
        "GET",
        store,
        key,
        stable_expiry(time.time(), expires_in),
        content_type=content_type or "",
        download_name=download_name or "",
    )
    return signed_request(signer, grant)


def presigned_put(
    signer: UrlSigner, store: str, key: str, content_type: str, max_bytes: int, expires_in: int
) -> SignedRequest:
    grant = Grant(
        "PUT",
        store,
        key,
        int(time.time()) + expires_in,
        content_type=content_type,
        max_bytes=max_bytes,
    )
    return signed_request(signer, grant)
