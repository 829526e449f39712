"""Share links of a photo: create, list, revoke (the owner), and open (anyone with the link)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from darkroom.domain import Share
from darkroom.errors import NotFound
from darkroom.services.sharing import Sharing
from darkroom.web.deps import GalleryDep, Owner, darkroom, variants_out
from darkroom.web.photos import ERRORS
from darkroom.web.schemas import VariantOut

router = APIRouter(tags=["share links"])
SHARED_PREFIX = "/shared"
"""Paths under it carry a share token: the access log leaves them out."""


class ShareRequest(BaseModel):
    expires_in: int | None = Field(
        None, ge=60, description="Seconds the link lives; at most DARKROOM_SHARE_TTL (default)."
    )


class ShareOut(BaseModel):
    id: str
    url: str = Field(
        description="The gallery page showing the photo to whoever has the link, until it "
        "expires; the token after `#shared=` is what `GET /shared/{token}` takes."
    )
    created_at: datetime
    expires_at: datetime


class SharedPhotoOut(BaseModel):
    filename: str
    description: str
    width: int
    height: int
    created_at: datetime
    variants: dict[str, VariantOut]


def sharing(request: Request) -> Sharing:
    found = darkroom(request).sharing
    if found is None:
        raise NotFound("share links are off: a DynamoDB catalog needs DARKROOM_SECRET for them")
    return found


SharingDep = Annotated[Sharing, Depends(sharing)]
Token = Annotated[str, Path(max_length=2048)]


def _out(request: Request, sharing: Sharing, share: Share) -> ShareOut:
    # The gallery page shows it; the token goes after `#`, so it reaches no server's log.
    page = darkroom(request).settings.public_url or str(request.base_url)
    link = f"{page.rstrip('/')}/#shared={sharing.token(share)}"
    return ShareOut(id=share.id, url=link, created_at=share.created_at, expires_at=share.expires_at)


@router.post(
    "/photos/{photo_id}/shares", status_code=201, response_model=ShareOut, responses=ERRORS
)
async def create_share(
    request: Request,
    photo_id: str,
    sharing: SharingDep,
    owner: Owner,
    body: ShareRequest | None = None,
) -> ShareOut:
    # Every field is optional, so is the body: `curl -X POST …/shares` asks for the default.
    expires_in = body.expires_in if body else None
    share, _ = await run_in_threadpool(sharing.create, owner, photo_id, expires_in)
    return _out(request, sharing, share)


@router.get("/photos/{photo_id}/shares", response_model=list[ShareOut], responses=ERRORS)
async def list_shares(
    request: Request, photo_id: str, sharing: SharingDep, owner: Owner
) -> list[ShareOut]:
    shares = await run_in_threadpool(sharing.of_photo, owner, photo_id)
    return [_out(request, sharing, s) for s in shares]


@router.delete("/photos/{photo_id}/shares/{share_id}", status_code=204, responses=ERRORS)
async def revoke_share(photo_id: str, share_id: str, sharing: SharingDep, owner: Owner) -> Response:
    await run_in_threadpool(sharing.revoke, owner, photo_id, share_id)
    return Response(status_code=204)


@router.get(
    SHARED_PREFIX + "/{token}",
    response_model=SharedPhotoOut,
    responses=ERRORS,
    summary="The photo a share link shows; no sign-in",
)
async def open_share(
    request: Request, token: Token, sharing: SharingDep, gallery: GalleryDep
) -> SharedPhotoOut:
    photo = await run_in_threadpool(sharing.open, token)
    return SharedPhotoOut(
        filename=photo.filename,
        description=photo.description,
        width=photo.width,
        height=photo.height,
        created_at=photo.created_at,
        variants=variants_out(request, gallery, photo),
    )
