"""The photo API: upload (direct and presigned), list, get, status, describe, delete."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from darkroom.domain import Photo, PhotoStatus
from darkroom.errors import BadRequest, Unsupported
from darkroom.services.gallery import FINAL_STATES, MAX_DESCRIPTION, Gallery, Uploaded
from darkroom.web import deps
from darkroom.web.deps import DarkroomDep, GalleryDep, Owner, photo_out, signed
from darkroom.web.errors import FieldsChecked, error_body, invalid_fields
from darkroom.web.ratelimit import limited_caller
from darkroom.web.schemas import (
    MAX_FILENAME,
    DescriptionPatch,
    ErrorOut,
    PhotoOut,
    PhotoPage,
    StatusBatch,
    StatusOut,
    UploadForm,
    UploadJson,
    UploadRequest,
    UploadTicket,
)

router = APIRouter(route_class=FieldsChecked)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 415, 422, 429, 503)
}
UPLOAD_RATE = [Depends(limited_caller("upload"))]
LISTING_RATE = [Depends(limited_caller("listing"))]
MAX_STATUS_IDS = 100
"""Photos one `GET /photos/status` asks about: as many as one DynamoDB BatchGetItem reads."""
MAX_ID_LENGTH = 100
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": PhotoOut, "description": "Stored; still processing."}
}
DUPLICATE: dict[int | str, dict[str, Any]] = {
    200: {"model": PhotoOut, "description": "The same bytes came before: the photo made then."}
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": UploadJson.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
                    },
                }
            },
        },
    }
}


@router.post(
    "/upload",
    status_code=201,
    response_model=PhotoOut,
    responses=ACCEPTED | DUPLICATE | ERRORS,
    openapi_extra=_UPLOAD_BODY,
    dependencies=UPLOAD_RATE,
    summary="Upload a photo (base64 JSON or multipart) and, by default, wait for its variants",
)
async def upload(
    request: Request, dr: DarkroomDep, owner: Owner, wait: bool = True
) -> JSONResponse:
    data, filename, description = await _read_upload(request)
    uploaded: Uploaded = await run_in_threadpool(
        dr.gallery.upload, owner, data, filename, description
    )
    return await _answer(
        request,
        dr.gallery,
        owner,
        uploaded.photo,
        uploaded.duplicate,
        wait,
        dr.settings.wait_timeout,
    )


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadTicket,
    responses=ERRORS,
    dependencies=UPLOAD_RATE,
    summary="Get a signed URL to send one photo straight to the store",
)
async def start_upload(
    request: Request, body: UploadRequest, gallery: GalleryDep, owner: Owner
) -> UploadTicket:
    pending = await run_in_threadpool(
        gallery.start_upload,
        owner,
        body.filename,
        body.content_type,
        body.size,
        body.description,
    )
    photo, req = pending.photo, pending.request
    return UploadTicket(
        id=photo.id,
        key=photo.key,
        url=signed(request, req),
        method=req.method,
        headers=dict(req.headers),
        fields=dict(req.fields),
        expires_at=req.expires_at,
        complete_url=str(request.url_for("complete_upload", photo_id=photo.id)),
    )


@router.post(
    "/uploads/{photo_id}/complete",
    response_model=PhotoOut,
    responses=ACCEPTED | ERRORS,
    summary="Start processing a presigned upload (stores that send no events)",
)
async def complete_upload(
    request: Request, photo_id: str, dr: DarkroomDep, owner: Owner, wait: bool = True
) -> JSONResponse:
    photo = await run_in_threadpool(dr.gallery.complete_upload, owner, photo_id)
    return await _answer(
        request, dr.gallery, owner, photo, False, wait, dr.settings.wait_timeout, created=200
    )


@router.get(
    "/photos",
    response_model=PhotoPage,
    responses=ERRORS,
    dependencies=LISTING_RATE,
    summary="Photos, newest first",
)
async def list_photos(
    request: Request,
    gallery: GalleryDep,
    owner: Owner,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PhotoPage:
    page = await run_in_threadpool(gallery.list, owner, limit, cursor)
    return PhotoPage(
        items=[photo_out(request, gallery, p) for p in page.items], next_cursor=page.cursor
    )


@router.get(
    "/photos/status",
    response_model=StatusBatch,
    responses=ERRORS,
    dependencies=LISTING_RATE,
    summary=f"The status of up to {MAX_STATUS_IDS} photos at once",
    description="What a page following many photos being processed asks, all of them in one "
    "request, where it would ask `GET /photos/{id}/status` for each. Ids that name no photo "
    "of the caller's (deleted, someone else's, never there) are listed in `missing`; the "
    "answer is 200 all the same. Counted against the listing rate.",
)
async def photo_statuses(
    gallery: GalleryDep,
    owner: Owner,
    ids: Annotated[
        str,
        Query(
            description=f"Photo ids separated by commas, 1 to {MAX_STATUS_IDS} "
            "(repeats are asked about once).",
            examples=["8f14e45fceea167a5a36dedd4bea2543,c9f0f895fb98ab9159f51fd0297e236d"],
        ),
    ],
) -> StatusBatch:
    wanted = _status_ids(ids)
    found = await run_in_threadpool(gallery.get_many, owner, wanted)
    return StatusBatch(
        items=[_status(found[i]) for i in wanted if i in found],
        missing=[i for i in wanted if i not in found],
    )


def _status_ids(ids: str) -> list[str]:
    """The ids of `ids=a,b,c`, each once, in their order; a `BadRequest` past the bounds."""
    wanted = list(dict.fromkeys(i.strip() for i in ids.split(",") if i.strip()))
    if not wanted:
        raise BadRequest("ids: name at least one photo id")
    if len(wanted) > MAX_STATUS_IDS:
        raise BadRequest(f"ids: at most {MAX_STATUS_IDS} photos at once, not {len(wanted)}")
    if any(len(i) > MAX_ID_LENGTH for i in wanted):
        raise BadRequest(f"ids: a photo id is at most {MAX_ID_LENGTH} characters")
    return wanted


@router.get("/photos/{photo_id}", response_model=PhotoOut, responses=ERRORS)
async def get_photo(request: Request, photo_id: str, gallery: GalleryDep, owner: Owner) -> PhotoOut:
    photo = await run_in_threadpool(gallery.get, owner, photo_id)
    return photo_out(request, gallery, photo)


@router.get("/photos/{photo_id}/status", response_model=StatusOut, responses=ERRORS)
async def photo_status(photo_id: str, gallery: GalleryDep, owner: Owner) -> StatusOut:
    return _status(await run_in_threadpool(gallery.get, owner, photo_id))


@router.get(
    "/status",
    response_model=StatusOut,
    responses=ERRORS,
    summary="Status by the original's key (seed 002)",
)
async def status_by_key(
    gallery: GalleryDep, owner: Owner, key: Annotated[str, Query(max_length=1024)]
) -> StatusOut:
    return _status(await run_in_threadpool(gallery.get_by_key, owner, key))


@router.patch("/photos/{photo_id}", response_model=PhotoOut, responses=ERRORS)
async def describe(
    request: Request, photo_id: str, body: DescriptionPatch, gallery: GalleryDep, owner: Owner
) -> PhotoOut:
    photo = await run_in_threadpool(gallery.describe, owner, photo_id, body.description)
    return photo_out(request, gallery, photo)


@router.delete(
    "/photos/{photo_id}",
    status_code=204,
    responses=ERRORS,
    summary="Delete the original, every variant and the record",
)
async def delete_photo(photo_id: str, dr: DarkroomDep, owner: Owner) -> Response:
    await run_in_threadpool(deps.delete_photo, dr, owner, photo_id)
    return Response(status_code=204)


@router.get(
    "/photos/{photo_id}/original",
    status_code=307,
    responses=ERRORS,
    response_class=RedirectResponse,
)
async def original(
    request: Request, photo_id: str, gallery: GalleryDep, owner: Owner
) -> RedirectResponse:
    photo = await run_in_threadpool(gallery.get, owner, photo_id)
    if photo.status in (PhotoStatus.UPLOADING, PhotoStatus.DUPLICATE):
        raise BadRequest(f"photo {photo_id} has no original of its own")
    return RedirectResponse(signed(request, gallery.original_url(photo)), 307)


@router.get(
    "/photos/{photo_id}/variants/{name}",
    status_code=307,
    responses=ERRORS,
    response_class=RedirectResponse,
)
async def variant(
    request: Request, photo_id: str, name: str, gallery: GalleryDep, owner: Owner
) -> RedirectResponse:
    photo = await run_in_threadpool(gallery.get, owner, photo_id)
    return RedirectResponse(signed(request, gallery.variant_url(photo, name)), 307)


def _status(photo: Photo) -> StatusOut:
    return StatusOut(
        id=photo.id,
        key=photo.key,
        status=photo.status,
        reason=photo.reason,
        duplicate_of=photo.duplicate_of or None,
    )


async def _read_upload(request: Request) -> tuple[bytes, str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = UploadJson.model_validate_json(await request.body())
        except ValidationError as exc:
            raise BadRequest(invalid_fields(exc.errors(), located=False)) from None
        try:
            data = base64.b64decode(body.content, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("content: not valid base64") from None
        return data, body.filename or body.key or "", body.description
    if content_type == "multipart/form-data":
        try:
            async with request.form(max_files=1, max_fields=10) as form:
                file = form.get("file")
                if not isinstance(file, UploadFile):
                    raise BadRequest(
                        "multipart upload: the image goes in a file field named 'file'"
                    )
                description = form.get("description")
                try:
                    fields = UploadForm(
                        filename=file.filename or "",
                        description=description if isinstance(description, str) else "",
                    )
                except ValidationError as exc:
                    raise BadRequest(invalid_fields(exc.errors(), located=False)) from None
                return await file.read(), fields.filename, fields.description
        except HTTPException as exc:
            if _header_overflow(exc):
                raise BadRequest(
                    f"filename: String should have at most {MAX_FILENAME} characters"
                ) from None
            raise
    raise Unsupported("send the photo as application/json (base64) or multipart/form-data")


def _header_overflow(exc: HTTPException) -> bool:
    """Whether the form reader gave up on a part's header line past its 4 KiB, which a file
    name of thousands of characters makes and Starlette reports only as invalid data."""
    cause = exc.__context__
    while cause is not None:
        if isinstance(cause, MultipartParseError) and "header size" in str(cause):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


async def _answer(
    request: Request,
    gallery: Gallery,
    owner: str,
    photo: Photo,
    duplicate: bool,
    wait: bool,
    timeout: float,
    created: int = 201,
) -> JSONResponse:
    """201 once processed, 202 while still processing, 422 with the reason if it failed."""
    if wait:
        photo = await _processed(gallery, owner, photo, timeout)
    if photo.status is PhotoStatus.DUPLICATE and photo.duplicate_of:
        photo = await run_in_threadpool(gallery.get, owner, photo.duplicate_of)
        duplicate = True
    out = photo_out(request, gallery, photo, duplicate).model_dump(mode="json")
    if photo.status is PhotoStatus.FAILED:
        body = error_body("invalid_image", photo.reason, photo=out)
        return JSONResponse(body, 422)
    if duplicate:
        return JSONResponse(out, 200)
    if photo.status is PhotoStatus.READY:
        return JSONResponse(out, created)
    return JSONResponse(out, 202)


async def _processed(gallery: Gallery, owner: str, photo: Photo, timeout: float) -> Photo:
    """The photo once processing has ended, or as it is when `timeout` runs out. It sleeps
    on the event loop between reads: a waiter holding a thread for up to a minute would
    soon leave none (AnyIO's pool has 40) to any other request."""
    deadline = anyio.current_time() + timeout
    delay = 0.01
    while photo.status not in FINAL_STATES:
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            break
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * 1.5, 0.25)
        photo = await run_in_threadpool(gallery.get, owner, photo.id)
    return photo
