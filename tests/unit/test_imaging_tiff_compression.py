"""TIFFs in compression schemes no decoder here reads are refused as Unsupported, not as
damaged; those they read (zstd, LZMA included) are decoded."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from darkroom.domain import VariantSpec
from darkroom.errors import Unsupported
from darkroom.imaging import develop

_SPEC = (VariantSpec("w64", width=64),)
_COMPRESSION = 259


def _tiff(compression: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 60, 110)).save(out, "TIFF", compression=compression)
    return out.getvalue()


def _labelled(data: bytes, scheme: int) -> bytes:
    """`data`, a little-endian TIFF, with its first page's Compression field set to
    `scheme` (the strips left as they are)."""
    patched = bytearray(data)
    (ifd,) = struct.unpack_from("<I", patched, 4)
    (fields,) = struct.unpack_from("<H", patched, ifd)
    for at in range(ifd + 2, ifd + 2 + 12 * fields, 12):
        if struct.unpack_from("<H", patched, at)[0] == _COMPRESSION:
            struct.pack_into("<H", patched, at + 8, scheme)
            return bytes(patched)
    raise AssertionError("no Compression field")


@pytest.mark.parametrize(
    ("scheme", "name"),
    [
        (34887, "LERC"),
        (50002, "JPEG XL"),
        (52546, "JPEG XL"),
        (34712, "JPEG 2000"),
        (34661, "JBIG"),
    ],
)
def test_a_tiff_in_a_compression_no_decoder_reads_is_unsupported(scheme: int, name: str) -> None:
    """They failed as InvalidImage, "its data is damaged" or libvips' own words ("LERC
    compression support is not configured", three times)."""
    with pytest.raises(Unsupported, match=name):
        develop(_labelled(_tiff("tiff_adobe_deflate"), scheme), _SPEC)


@pytest.mark.parametrize("compression", ["zstd", "tiff_adobe_deflate", "tiff_lzw"])
def test_a_tiff_in_a_compression_the_decoders_read_is_decoded(compression: str) -> None:
    (variant,) = develop(_tiff(compression), _SPEC).variants
    assert (variant.width, variant.height) == (48, 32)
