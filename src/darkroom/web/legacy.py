"""Seed 000's routes, in its shapes, for the clients written against it."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from darkroom.errors import NotFound, TooLarge
from darkroom.services.gallery import Gallery
from darkroom.web.deps import DarkroomDep, GalleryDep, Owner, delete_photo
from darkroom.web.photos import ERRORS, LISTING_RATE
from darkroom.web.schemas import KeyRequest

router = APIRouter(tags=["seed 000"])

MAX_KEYS = 1000
"""Keys in one answer of `/list`: all of a large library's (100 000 photos: 4.7 MB, seconds
of reading) would pass a Lambda's 6 MB answer at some 125 000. The rest come a page at a
time, through the `Link` header's next URL."""
MAX_INLINE_BYTES = 4 * 1024 * 1024
"""Base64 grows by a third and a Lambda answer stops at 6 MB: larger objects must be
fetched through `/photos/{id}/original` instead."""


@router.get(
    "/list",
    responses=ERRORS,
    dependencies=LISTING_RATE,
    summary="Keys of the caller's originals, newest first, up to 1000 an answer",
)
async def list_keys(
    request: Request,
    response: Response,
    gallery: GalleryDep,
    owner: Owner,
    limit: Annotated[int, Query(ge=1, le=MAX_KEYS)] = MAX_KEYS,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> list[str]:
    """Where more keys remain, `Link: <URL>; rel="next"` names the next page (its cursor
    also in `X-Next-Cursor`)."""
    page = await run_in_threadpool(gallery.list, owner, limit, cursor)
    if page.cursor is not None:
        after = request.url.include_query_params(cursor=page.cursor)
        response.headers["Link"] = f'<{after}>; rel="next"'
        response.headers["X-Next-Cursor"] = page.cursor
    return [p.key for p in page.items]


@router.get("/get", responses=ERRORS, summary="An original as base64")
async def get_object(
    gallery: GalleryDep, owner: Owner, key: Annotated[str, Query(max_length=1024)]
) -> dict[str, str]:
    return await run_in_threadpool(_inline_original, gallery, owner, key)


@router.post("/get", responses=ERRORS, summary="An original as base64")
async def post_get_object(body: KeyRequest, gallery: GalleryDep, owner: Owner) -> dict[str, str]:
    return await run_in_threadpool(_inline_original, gallery, owner, body.key)


@router.post("/delete", responses=ERRORS, summary="Delete an original; its variants follow")
async def delete_object(body: KeyRequest, dr: DarkroomDep, owner: Owner) -> dict[str, str]:
    photo = await run_in_threadpool(dr.gallery.get_by_key, owner, body.key)
    await run_in_threadpool(delete_photo, dr, owner, photo.id)
    return {"key": body.key, "status": "deleted"}


@router.get("/thumbnails", responses=ERRORS, summary="An original's thumbnail as base64")
async def thumbnail(
    gallery: GalleryDep, owner: Owner, key: Annotated[str, Query(max_length=1024)]
) -> dict[str, str]:
    return await run_in_threadpool(_inline_thumbnail, gallery, owner, key)


def _inline_original(gallery: Gallery, owner: str, key: str) -> dict[str, str]:
    photo = gallery.get_by_key(owner, key)
    # The stored object's size, not the record's: that is 0 until a presigned upload is
    # completed, though its bytes (up to the upload limit) are already there.
    stored = gallery.originals.head(photo.key)
    if stored is None:
        raise NotFound(f"{key} has no original stored (status {photo.status})")
    if stored.size > MAX_INLINE_BYTES:
        raise TooLarge(f"{key} is {stored.size} bytes; fetch it from /photos/{photo.id}/original")
    data = gallery.originals.get(photo.key)
    return {
        "key": key,
        "content_type": photo.content_type,
        "content": base64.b64encode(data).decode(),
    }


def _inline_thumbnail(gallery: Gallery, owner: str, key: str) -> dict[str, str]:
    photo = gallery.get_by_key(owner, key)
    thumb = photo.variant("thumb") or min(photo.variants, key=lambda v: v.size, default=None)
    if thumb is None:
        raise NotFound(f"{key} has no thumbnail yet (status {photo.status})")
    data = gallery.variants.get(thumb.key)
    return {
        "key": key,
        "thumbnail_key": thumb.key,
        "content_type": thumb.content_type,
        "content": base64.b64encode(data).decode(),
    }
