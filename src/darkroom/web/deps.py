"""What every route needs: the wired darkroom, the caller, absolute URLs."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from darkroom.bootstrap import Darkroom
from darkroom.domain import Photo, PhotoStatus, SignedRequest
from darkroom.errors import NotFound, Unauthorized
from darkroom.services.gallery import LOCAL_OWNER, Gallery
from darkroom.web.schemas import PhotoOut, VariantOut


def darkroom(request: Request) -> Darkroom:
    app: Darkroom = request.app.state.darkroom
    return app


def gallery(request: Request) -> Gallery:
    return darkroom(request).gallery


_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from `POST /auth/sign-in` (not needed with DARKROOM_AUTH=none).",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def owner(request: Request, credentials: Bearer) -> str:
    """Whose photos the caller may see: the signed-in user, or the one local user."""
    identity = darkroom(request).identity
    if identity is None:
        return LOCAL_OWNER
    if credentials is None:
        raise Unauthorized("sign in first, then send Authorization: Bearer ACCESS_TOKEN")
    return await run_in_threadpool(identity.authenticate, credentials.credentials)


Owner = Annotated[str, Depends(owner)]


async def operator(request: Request, credentials: Bearer) -> None:
    """Lets through whoever runs this darkroom: anyone when there is one user and no
    sign-in, else only the bearer of DARKROOM_OPS_TOKEN. Everyone else learns nothing:
    404, as for a route that is not there."""
    dr = darkroom(request)
    if dr.identity is None:
        return
    token = dr.settings.ops_token
    given = credentials.credentials if credentials is not None else ""
    if len(token) < 16 or not hmac.compare_digest(given.encode(), token.encode()):
        raise NotFound("Not Found")


Operator = Depends(operator)
GalleryDep = Annotated[Gallery, Depends(gallery)]
DarkroomDep = Annotated[Darkroom, Depends(darkroom)]


def delete_photo(dr: Darkroom, owner: str, photo_id: str) -> None:
    """The photo, its files and its share links."""
    dr.gallery.delete(owner, photo_id)
    if dr.sharing is not None:
        dr.sharing.forget(photo_id)


def absolute(request: Request, url: str) -> str:
    """Self-served stores sign root-relative URLs; clients get them whole."""
    if url.startswith("/"):
        return str(request.base_url).rstrip("/") + url
    return url


def signed(request: Request, signed_request: SignedRequest) -> str:
    return absolute(request, signed_request.url)


def photo_out(
    request: Request, gallery: Gallery, photo: Photo, duplicate: bool = False
) -> PhotoOut:
    has_original = photo.status not in (PhotoStatus.UPLOADING, PhotoStatus.DUPLICATE)
    return PhotoOut(
        id=photo.id,
        key=photo.key,
        filename=photo.filename,
        description=photo.description,
        status=photo.status,
        reason=photo.reason,
        content_type=photo.content_type,
        size=photo.size,
        width=photo.width,
        height=photo.height,
        created_at=photo.created_at,
        updated_at=photo.updated_at,
        metadata=dict(photo.metadata),
        blurhash=photo.blurhash,
        duplicate=duplicate,
        duplicate_of=photo.duplicate_of or None,
        original_url=signed(request, gallery.original_url(photo)) if has_original else None,
        variants=variants_out(request, gallery, photo),
    )


def variants_out(request: Request, gallery: Gallery, photo: Photo) -> dict[str, VariantOut]:
    return {
        v.name: VariantOut(
            name=v.name,
            width=v.width,
            height=v.height,
            content_type=v.content_type,
            size=v.size,
            url=signed(request, gallery.variant_url(photo, v.name)),
        )
        for v in photo.variants
    }
