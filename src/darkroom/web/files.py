"""Signed URLs of the stores darkroom serves itself (filesystem, memory): GET (and HEAD)
and PUT."""

from __future__ import annotations

import re
import tempfile
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from darkroom.adapters.filesystem import FilesystemBlobStore
from darkroom.domain import PhotoStatus
from darkroom.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge
from darkroom.ports import BlobStore
from darkroom.signing import FILES_PREFIX
from darkroom.web.deps import DarkroomDep
from darkroom.web.errors import error_body

router = APIRouter(prefix=FILES_PREFIX, include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"
"""Variant keys change with their content, so a variant URL's bytes never change."""
_SPOOL = 8 * 1024 * 1024


@router.api_route("/{store}/{key:path}", methods=["GET", "HEAD"])
async def read(store: str, key: str, request: Request, dr: DarkroomDep) -> Response:
    """A URL signed for GET answers HEAD too. A copy the client holds (If-None-Match) is
    answered 304; a Range header that is not a valid one is ignored, as HTTP allows."""
    blobs = _store(dr.served_stores, store)
    grant = dr.signer.verify("GET", store, key, request.query_params, time.time())
    info = await run_in_threadpool(blobs.head, key)
    if info is None:
        raise NotFound(f"no object {key!r}")
    headers = {
        "Cache-Control": IMMUTABLE if store == "variants" else "private, max-age=3600",
        "ETag": f'"{info.etag}"',
    }
    if grant.download_name:
        headers["Content-Disposition"] = (
            f"attachment; filename*=UTF-8''{quote(grant.download_name, safe='')}"
        )
    if _held(request.headers.get("if-none-match", ""), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    media_type = grant.content_type or info.content_type
    if isinstance(blobs, FilesystemBlobStore):
        _forget_invalid_range(request)
        if _past_the_end(request, info.size, headers["ETag"]):
            message = f"the range asks for bytes past the end of the {info.size} there are"
            return JSONResponse(
                error_body("range_not_satisfiable", message),
                416,
                headers=headers | {"Content-Range": f"bytes */{info.size}"},
            )
        return FileResponse(blobs.path(key), media_type=media_type, headers=headers)
    data = await run_in_threadpool(blobs.get, key)
    return Response(data, media_type=media_type, headers=headers)


def _held(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


_RANGE = re.compile(r"(\d*)-(\d*)")


def _forget_invalid_range(request: Request) -> None:
    """Starlette answers a malformed Range with a bare 400 in plain text."""
    value = request.headers.get("range")
    if value is None or _valid_range(value):
        return
    request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]


def _valid_range(value: str) -> bool:
    unit, _, specs = value.partition("=")
    if unit.strip().lower() != "bytes":
        return False
    ranges = [spec.strip() for spec in specs.split(",") if spec.strip()]  # a list may hold empties
    for spec in ranges:
        bounds = _RANGE.fullmatch(spec)
        if not bounds or not (bounds[1] or bounds[2]):
            return False
        if bounds[1] and bounds[2] and int(bounds[1]) > int(bounds[2]):
            return False
    return bool(ranges)


def _past_the_end(request: Request, size: int, etag: str) -> bool:
    """Whether a valid Range (one `FileResponse` would act on) starts at or past the end,
    which it answers 416 with an empty plain-text body."""
    value, if_range = request.headers.get("range"), request.headers.get("if-range")
    if value is None or (if_range is not None and if_range != etag):
        return False
    specs = value.partition("=")[2].split(",")
    if len(specs) > FileResponse.max_ranges:
        return False
    for spec in specs:
        bounds = _RANGE.fullmatch(spec.strip())
        if bounds and (bounds[1] or bounds[2]):
            start = int(bounds[1]) if bounds[1] else size - int(bounds[2])
            if start >= size:
                return True
    return False


@router.put("/{store}/{key:path}")
async def write(
    store: str,
    key: str,
    request: Request,
    dr: DarkroomDep,
    content_type: Annotated[str, Header()] = "",
) -> Response:
    """Like an S3 presigned PUT: the signature binds the key, the content type, the size
    limit and the expiry. Originals are written once."""
    blobs = _store(dr.served_stores, store)
    grant = dr.signer.verify("PUT", store, key, request.query_params, time.time())
    if content_type.split(";")[0].strip().lower() != grant.content_type:
        raise Forbidden(f"this URL was signed for Content-Type {grant.content_type}")
    if store == "originals":
        try:
            photo = await run_in_threadpool(dr.catalog.get_by_key, key)
        except NotFound:
            raise NotFound("no photo waits for this upload: it was deleted") from None
        # Not only the stored object says so: a copy's original is removed once it is
        # found to be one, and bytes sent again then would be kept with nothing to show
        # them, process them or find them.
        if photo.status is not PhotoStatus.UPLOADING:
            raise Conflict("this object has already been uploaded")
    if await run_in_threadpool(blobs.head, key) is not None:
        raise Conflict("this object has already been uploaded")
    with tempfile.SpooledTemporaryFile(_SPOOL) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > grant.max_bytes:
                raise TooLarge(f"the upload is over the limit of {grant.max_bytes} bytes")
            spool.write(chunk)
        if size == 0:
            raise BadRequest("the upload is empty")
        spool.seek(0)
        info = await run_in_threadpool(blobs.put, key, spool, grant.content_type)  # type: ignore[arg-type]
    return Response(status_code=200, headers={"ETag": f'"{info.etag}"'})


def _store(stores: dict[str, BlobStore], name: str) -> BlobStore:
    try:
        return stores[name]
    except KeyError:
        raise NotFound(f"no store {name!r}") from None
