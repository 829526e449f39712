"""Answers compressed with gzip for clients that take it: a page of 40 photos' JSON goes
from 89 KB to 17 KB, the page's scripts and styles to a third. Neither deployment did it:
CloudFront compresses only where its cache policy caches compressed answers, and the page
and the API are not cached."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_MINIMUM_BYTES = 1024
"""Smaller answers fit one packet as they are."""
_REFUSED = re.compile(r"q=0(\.0{0,3})?")
"""A quality of 0: the coding is not acceptable (RFC 9110, 12.4.2)."""
_LEVEL = 6
"""zlib's default: level 9 (Starlette's) takes a quarter longer for half a percent less."""


class Compressed:
    """Starlette's GZip (which leaves images, partial answers and answers encoded already as
    they are) for every path but the stored files under `own_prefix`: photos, compressed
    already, of any type, whose downloads may ask for ranges."""

    def __init__(self, app: ASGIApp, own_prefix: str) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=_MINIMUM_BYTES, compresslevel=_LEVEL)
        self.own_prefix = own_prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.own_prefix):
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        if _refuses_gzip(request.get("accept-encoding", "")):
            await self.app(scope, receive, send)
            return
        held = _weak_tags(request.get("if-none-match", ""))

        async def as_compressed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-encoding") == "gzip":
                    _compressed_validators(headers)
                elif message["status"] == 304:
                    _held_validator(headers, held)
            await send(message)

        await self.gzip(scope, receive, as_compressed)


def _compressed_validators(headers: MutableHeaders) -> None:
    """A strong ETag and `Accept-Ranges` speak of the file's own bytes, which a range is
    cut from: with them, a client resuming a compressed download (`If-Range` that ETag)
    was sent the file's bytes from its offset into the gzip. Weak, the ETag still answers
    `If-None-Match` (304), and no longer `If-Range`, which then sends the whole again."""
    del headers["accept-ranges"]
    etag = headers.get("etag")
    if etag is not None and not etag.startswith("W/"):
        headers["etag"] = "W/" + etag


def _held_validator(headers: MutableHeaders, held: frozenset[str]) -> None:
    """A 304 names the copy the client holds: asked after the compressed copy's weak ETag,
    it answers with that, not the file's strong one (a client takes a 304's headers for
    its copy's)."""
    etag = headers.get("etag")
    if etag is not None and etag in held:
        headers["etag"] = "W/" + etag


def _weak_tags(if_none_match: str) -> frozenset[str]:
    """The entity tags `If-None-Match` lists as weak, without their `W/`."""
    tags = (tag.strip() for tag in if_none_match.split(","))
    return frozenset(tag[2:] for tag in tags if tag.startswith("W/"))


def _refuses_gzip(accept_encoding: str) -> bool:
    """`gzip;q=0`: Starlette's GZip looks for the word alone, and would compress."""
    for offer in accept_encoding.split(","):
        coding, *parameters = (part.strip().lower() for part in offer.split(";"))
        if coding == "gzip":
            return any(_REFUSED.fullmatch(parameter) for parameter in parameters)
    return False
