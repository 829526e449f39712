"""`GET /config`: what the gallery page needs to know before it talks to the API."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from darkroom.imaging.formats import ACCEPTED, BY_CONTENT_TYPE
from darkroom.services.gallery import MAX_DESCRIPTION
from darkroom.web.deps import DarkroomDep

router = APIRouter(tags=["page"])

_MORE_EXTENSIONS = {
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "tif": "image/tiff",
    "heif": "image/heif",
}
"""Other names a file of an accepted type is commonly given; browsers often report no
type at all for HEIC and AVIF, so the page goes by the extension then."""


class AuthOut(BaseModel):
    mode: str = Field(
        description="`none`: one user, no sign-in; `local` or `cognito`: sign in through "
        "`/auth/…` and send `Authorization: Bearer ACCESS_TOKEN`."
    )


class VariantSpecOut(BaseModel):
    name: str
    width: int | None = Field(description="Widest it gets; none means only the height bounds.")
    height: int | None = Field(description="Tallest it gets; none means only the width bounds.")


class PageConfig(BaseModel):
    auth: AuthOut
    max_upload_bytes: int = Field(description="Largest original the API accepts.")
    max_description: int = Field(description="Longest description, in characters.")
    accepted_types: list[str] = Field(description="Content types `POST /uploads` accepts.")
    extensions: dict[str, str] = Field(
        description="File extension (lower case, no dot) → content type to send."
    )
    variants: list[VariantSpecOut]


@router.get("/config", response_model=PageConfig, summary="What the gallery page needs to know")
async def page_config(dr: DarkroomDep) -> PageConfig:
    settings = dr.settings
    return PageConfig(
        auth=AuthOut(mode=settings.auth_mode()),
        max_upload_bytes=settings.max_upload_bytes,
        max_description=MAX_DESCRIPTION,
        accepted_types=sorted(BY_CONTENT_TYPE),
        extensions={f.extension: f.content_type for f in ACCEPTED} | _MORE_EXTENSIONS,
        variants=[
            VariantSpecOut(name=s.name, width=s.width, height=s.height)
            for s in settings.variant_specs()
        ],
    )
