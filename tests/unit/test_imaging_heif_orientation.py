"""HEIC and AVIF are turned as their `irot` and `imir` say, once: HEIF ignores the EXIF and
XMP orientation a file may also carry."""

from __future__ import annotations

import io

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from darkroom.domain import VariantSpec
from darkroom.imaging import develop

_SPEC = (VariantSpec("w320", width=320),)
_RED, _BLUE = (255, 0, 0), (0, 0, 255)


def _left_red_right_blue() -> Image.Image:
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :32], pixels[:, 32:] = _RED, _BLUE
    return Image.fromarray(pixels)


def _xmp(orientation: str) -> bytes:
    return (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
        b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
        b' xmlns:tiff="http://ns.adobe.com/tiff/1.0/">'
        + orientation.encode()
        + b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def _shown(data: bytes) -> Image.Image:
    (variant,) = develop(data, _SPEC).variants
    return Image.open(io.BytesIO(variant.data)).convert("RGB")


def _top_and_bottom(image: Image.Image) -> tuple[list[int], list[int]]:
    pixels = np.asarray(image, dtype=np.int16)
    height, width = pixels.shape[:2]
    return pixels[height // 8, width // 2].tolist(), pixels[height * 7 // 8, width // 2].tolist()


def _near(colour: list[int], expected: tuple[int, int, int]) -> bool:
    return max(abs(a - b) for a, b in zip(colour, expected, strict=True)) <= 16


@pytest.mark.parametrize(
    "orientation",
    ["<tiff:Orientation>6 </tiff:Orientation>", "<tiff:Orientation>6</tiff:Orientation >"],
)
def test_a_heic_turned_by_irot_is_not_turned_again_by_its_xmp(orientation: str) -> None:
    """pillow-heif writes the XMP orientation as `irot` and clears it from the XMP on
    reading, but only in the two spellings it knows; Pillow read these ones and the photo
    was turned a second time (shown lying on its side, 64×32)."""
    out = io.BytesIO()
    heif = pillow_heif.from_pillow(_left_red_right_blue())
    heif.info["xmp"] = _xmp(orientation)
    heif.save(out, quality=95)
    shown = _shown(out.getvalue())
    assert shown.size == (32, 64)  # turned a quarter clockwise, once
    top, bottom = _top_and_bottom(shown)
    assert _near(top, _RED) and _near(bottom, _BLUE), (top, bottom)


def test_an_avif_ignores_an_xmp_orientation() -> None:
    """An AVIF without `irot` is shown as stored, as libavif, libvips and browsers show it,
    whatever its XMP says (Pillow reads an orientation from XMP where EXIF states none)."""
    out = io.BytesIO()
    _left_red_right_blue().save(
        out, "AVIF", quality=95, xmp=_xmp("<tiff:Orientation>6</tiff:Orientation>")
    )
    shown = _shown(out.getvalue())
    assert shown.size == (64, 32)


def test_an_avif_is_turned_by_its_irot_once() -> None:
    """Pillow writes an EXIF orientation as `irot` (and reads it back as one)."""
    image = _left_red_right_blue()
    exif = image.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "AVIF", quality=95, exif=exif.tobytes())
    shown = _shown(out.getvalue())
    assert shown.size == (32, 64)
    top, bottom = _top_and_bottom(shown)
    assert _near(top, _RED) and _near(bottom, _BLUE), (top, bottom)
