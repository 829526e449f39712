"""Recognising an image format from its first bytes; the extension is never trusted."""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.errors import Unsupported


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    """Pillow's name for it."""
    extension: str
    content_type: str


JPEG = Format("JPEG", "jpg", "image/jpeg")
PNG = Format("PNG", "png", "image/png")
GIF = Format("GIF", "gif", "image/gif")
BMP = Format("BMP", "bmp", "image/bmp")
TIFF = Format("TIFF", "tiff", "image/tiff")
WEBP = Format("WEBP", "webp", "image/webp")
HEIF = Format("HEIF", "heic", "image/heic")
AVIF = Format("AVIF", "avif", "image/avif")

ACCEPTED = (JPEG, PNG, GIF, BMP, TIFF, WEBP, HEIF, AVIF)
BY_CONTENT_TYPE = {f.content_type: f for f in ACCEPTED} | {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/x-ms-bmp": BMP,
    "image/heif": HEIF,
}
SNIFF_BYTES = 32
"""How many leading bytes `detect` needs."""

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def detect(head: bytes) -> Format:
    """The format whose signature `head` starts with. Raises `Unsupported` otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head.startswith(b"BM") and len(head) >= 26:
        return BMP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic, BigTIFF
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 32) - 3, 4)}
        if brands & _AVIF_BRANDS:
            return AVIF
        if brands & _HEIF_BRANDS:
            return HEIF
    raise Unsupported(
        "not an image darkroom accepts (JPEG, PNG, GIF, BMP, TIFF, WebP, HEIC or AVIF)"
    )
