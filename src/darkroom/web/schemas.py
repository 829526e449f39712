"""What the HTTP API reads and writes."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, field_validator

from darkroom.domain import MetadataValue, PhotoStatus
from darkroom.services.gallery import MAX_DESCRIPTION

MAX_FILENAME = 1024
"""Characters an upload may give as its file's name (darkroom shows at most 200 of them)."""


def _lf(text: object) -> object:
    return text.replace("\r\n", "\n") if isinstance(text, str) else text


Description = Annotated[str, Field(max_length=MAX_DESCRIPTION), BeforeValidator(_lf)]
"""A form's text comes with CRLF line breaks (HTML's form encoding, a Windows file given to
`curl -F`); kept as LF, each counts as the one character it is then."""


class UploadJson(BaseModel):
    """Seed 000's upload: the file as base64, its name as `filename` or `key`."""

    content: str = Field(description="The image, base64-encoded.")
    filename: str | None = Field(None, max_length=MAX_FILENAME)
    key: str | None = Field(
        None, max_length=MAX_FILENAME, description="Seed 000's name for filename."
    )
    description: Description = ""


class UploadForm(BaseModel):
    """A multipart upload's name for its file, and its description."""

    filename: str = Field("", max_length=MAX_FILENAME)
    description: Description = ""


class UploadRequest(BaseModel):
    filename: str = Field("", max_length=MAX_FILENAME)
    content_type: str = Field(
        description="The image's type, e.g. image/jpeg; the upload "
        "must send the same Content-Type.",
        max_length=100,
    )
    size: int | None = Field(None, ge=1, description="Bytes, if known; checked early.")
    description: Description = ""


class DescriptionPatch(BaseModel):
    description: Description


class KeyRequest(BaseModel):
    key: str = Field(max_length=1024)


class VariantOut(BaseModel):
    name: str
    width: int
    height: int
    content_type: str
    size: int
    url: str


class PhotoOut(BaseModel):
    id: str
    key: str
    filename: str
    description: str
    status: PhotoStatus
    reason: str
    content_type: str
    size: int
    width: int
    height: int
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, MetadataValue]
    blurhash: str = Field(
        "", description="A blurred preview (blurha.sh) to paint while the variants load."
    )
    duplicate: bool = Field(
        False,
        description="True when these bytes were already uploaded; "
        "this is the photo made of them then.",
    )
    duplicate_of: str | None = None
    original_url: str | None = Field(None, description="Signed, short-lived.")
    variants: dict[str, VariantOut]

    @field_validator("metadata")
    @classmethod
    def _finite(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        """Without the infinities an earlier darkroom kept from a damaged EXIF: JSON has
        no way to write them."""
        return {k: v for k, v in value.items() if not isinstance(v, float) or math.isfinite(v)}


class PhotoPage(BaseModel):
    items: list[PhotoOut]
    next_cursor: str | None


class StatusOut(BaseModel):
    id: str
    key: str
    status: PhotoStatus
    reason: str
    duplicate_of: str | None


class StatusBatch(BaseModel):
    items: list[StatusOut] = Field(
        description="The status of each photo asked for that is there, in the order asked."
    )
    missing: list[str] = Field(
        description="The ids asked for that name no photo of the caller's: deleted, "
        "someone else's, or never there (the same for all three)."
    )


class UploadTicket(BaseModel):
    id: str
    key: str
    url: str
    method: str
    headers: dict[str, str]
    fields: dict[str, str]
    expires_at: datetime
    complete_url: str = Field(
        description="POST here once the bytes are sent, where the "
        "store does not start processing by itself."
    )


class ErrorOut(BaseModel):
    error: str
    message: str
