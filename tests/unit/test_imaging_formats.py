"""Format detection: from the first bytes of the file, never from its name."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import pyvips
from PIL import Image

from darkroom.domain import OutputFormat, VariantSpec
from darkroom.errors import InvalidImage, Unsupported
from darkroom.imaging import ACCEPTED, BY_CONTENT_TYPE, SNIFF_BYTES, Format, detect, develop
from darkroom.imaging.formats import AVIF, BMP, GIF, HEIF, JPEG, PNG, TIFF, WEBP
from tests.unit.imaging_helpers import (
    CASES,
    CorpusCase,
    corpus_bytes,
    develop_apart,
    encode,
    gif_with_screen,
    sample_image,
)

FORMAT_BY_NAME = {fmt.name: fmt for fmt in ACCEPTED}


@pytest.mark.parametrize("case", CASES, ids=[case.name.split("_")[0] for case in CASES])
def test_detects_every_corpus_file(case: CorpusCase) -> None:
    data = corpus_bytes(case.name)
    assert detect(data[:SNIFF_BYTES]) is FORMAT_BY_NAME[case.format]
    assert detect(data) is FORMAT_BY_NAME[case.format]


def _made(fmt: str, mode: str = "RGB", **params: object) -> bytes:
    return encode(sample_image((48, 32), mode), fmt, **params)


MADE: list[tuple[str, bytes, Format]] = [
    ("jpeg", _made("JPEG"), JPEG),
    ("png", _made("PNG"), PNG),
    ("png-rgba", _made("PNG", "RGBA"), PNG),
    ("gif", _made("GIF"), GIF),
    ("bmp", _made("BMP"), BMP),
    ("tiff-little-endian", _made("TIFF"), TIFF),
    ("tiff-big-endian", _made("TIFF", big_endian=True, compression="tiff_deflate"), TIFF),
    (
        "bigtiff",
        pyvips.Image.new_from_array(np.asarray(sample_image((48, 32)))).tiffsave_buffer(
            bigtiff=True
        ),
        TIFF,
    ),
    ("webp-lossy", _made("WEBP"), WEBP),
    ("webp-lossless", _made("WEBP", "RGBA", lossless=True), WEBP),
    ("avif", _made("AVIF", quality=60), AVIF),
    ("avif-alpha", _made("AVIF", "RGBA", quality=60), AVIF),
    ("heic", _made("HEIF", quality=60), HEIF),
]


@pytest.mark.parametrize(("data", "expected"), [m[1:] for m in MADE], ids=[m[0] for m in MADE])
def test_detects_files_made_with_pillow_and_develops_them(data: bytes, expected: Format) -> None:
    assert detect(data[:SNIFF_BYTES]) is expected
    result = develop(data)
    assert result.info.format is expected
    assert (result.info.width, result.info.height) == (48, 32)
    assert all(v.width <= 48 and v.height <= 32 for v in result.variants)


def test_the_file_name_is_never_trusted(tmp_path: Path) -> None:
    """PNG bytes saved as .jpg (and JPEG bytes as .png) are what their bytes say."""
    png_as_jpg = tmp_path / "holiday.jpg"
    png_as_jpg.write_bytes(_made("PNG"))
    jpeg_as_png = tmp_path / "holiday.png"
    jpeg_as_png.write_bytes(_made("JPEG"))
    assert detect(png_as_jpg.read_bytes()) is PNG
    assert develop(png_as_jpg.read_bytes()).info.format is PNG
    assert detect(jpeg_as_png.read_bytes()) is JPEG
    assert develop(jpeg_as_png.read_bytes()).info.format is JPEG


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, world",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"<?xml version='1.0'?><svg/>",
        b"PK\x03\x04\x14\x00\x00\x00",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",  # MP4 video
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",  # QuickTime
        b"RIFF\x24\x00\x00\x00AVI LIST",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"\xff\x0a\xfa\x7f",  # JPEG XL codestream
        b"\x00\x00\x00\x0cJXL \r\n\x87\n",  # JPEG XL container
        b"\x00\x00\x01\x00\x01\x00\x10\x10",  # ICO
        b"BM",  # a BMP signature and nothing else
        b"\xff\xd8",  # half a JPEG signature
        b"\x89PNG\r\n",  # a cut PNG signature
        b"GIF88a",
        b"8BPS\x00\x01",  # Photoshop
    ],
)
def test_refuses_what_is_not_an_accepted_image(head: bytes) -> None:
    with pytest.raises(Unsupported):
        detect(head)
    # "BM" and 26 more bytes is all a BMP signature is: zeros after it make a broken BMP
    with pytest.raises(InvalidImage if head == b"BM" else Unsupported):
        develop(head + bytes(100))


def test_heif_and_avif_brands() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body

    assert detect(ftyp(b"heic", b"mif1", b"heic")) is HEIF
    assert detect(ftyp(b"mif1", b"heic")) is HEIF
    assert detect(ftyp(b"avif", b"mif1", b"miaf")) is AVIF
    assert detect(ftyp(b"mif1", b"avif")) is AVIF
    with pytest.raises(Unsupported):
        detect(ftyp(b"isom", b"iso2", b"mp41"))


def test_content_types_name_accepted_formats() -> None:
    assert set(BY_CONTENT_TYPE.values()) == set(ACCEPTED)
    for fmt in ACCEPTED:
        assert BY_CONTENT_TYPE[fmt.content_type] is fmt
        assert fmt.name in Image.registered_extensions().values()


@pytest.mark.parametrize("fmt", ["auto", "png", "jpeg"])
@pytest.mark.parametrize("bands", [2, 4], ids=["grey-alpha", "rgba"])
def test_a_16_bit_png_with_transparency_keeps_its_colours(fmt: OutputFormat, bands: int) -> None:
    """Its samples become 8-bit: transparency must then be counted out of 255, not 65535."""
    samples = (*(50000, 30000, 10000)[: bands - 1], 40000)
    stored = np.tile(np.array(samples, np.uint16), (64, 80, 1))
    label = "rgb16" if bands == 4 else "grey16"
    data = pyvips.Image.new_from_array(stored).copy(interpretation=label).pngsave_buffer()
    (variant,) = develop(data, [VariantSpec("small", 40, format=fmt)]).variants
    got = np.asarray(Image.open(io.BytesIO(variant.data)).convert("RGBA"), np.float64)[10, 10]
    colour = np.array(samples[:-1] * (3 if bands == 2 else 1), np.float64) / 257
    alpha = samples[-1] / 65535
    if variant.content_type == "image/jpeg":  # flattened onto white
        expected = np.append(colour * alpha + 255 * (1 - alpha), 255)
    else:
        expected = np.append(colour, alpha * 255)
    assert np.abs(got - expected).max() < 3, (got, expected)


def _gif_frame_placed(data: bytes, left: int, top: int) -> bytes:
    """`data` (a one-frame GIF) with its frame's image descriptor moved to (`left`, `top`)."""
    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[at] == 0x21:  # extension blocks: label, then sub-blocks up to a zero length
        at += 2
        while data[at]:
            at += data[at] + 1
        at += 1
    assert data[at] == 0x2C, "an image descriptor"
    patched = bytearray(data)
    struct.pack_into("<HH", patched, at + 1, left, top)
    return bytes(patched)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_a_gif_frame_smaller_than_its_screen_leaves_the_rest_clear(fmt: OutputFormat) -> None:
    """A first frame that covers part of the screen, and has no transparent colour: browsers
    show the page around it. Pillow fills the rest with palette index 0, here the frame's
    own red."""
    frame = Image.new("P", (20, 20))
    frame.putpalette([255, 0, 0, 0, 0, 255])
    frame.paste(1, (5, 5, 15, 15))
    gif = gif_with_screen(_gif_frame_placed(encode(frame, "GIF"), 10, 10), 40, 40)
    developed = develop(gif, [VariantSpec("same", 40, format=fmt)])
    assert developed.info.has_alpha
    shown = np.asarray(Image.open(io.BytesIO(developed.variants[0].data)).convert("RGBA"))
    outside = (255, 255, 255, 255) if fmt == "jpeg" else (0, 0, 0, 0)
    assert np.abs(shown[2, 2].astype(int) - outside).max() <= 3
    assert np.abs(shown[12, 12].astype(int) - (255, 0, 0, 255)).max() <= 8
    assert np.abs(shown[20, 20].astype(int) - (0, 0, 255, 255)).max() <= 8


def _transparent_gif() -> bytes:
    image = sample_image((300, 200)).quantize(64)
    return encode(image, "GIF", transparency=3)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("GIF", _transparent_gif()),
        ("TIFF", encode(sample_image((300, 200), "LA"), "TIFF")),
        ("TIFF", encode(sample_image((300, 200), "1"), "TIFF")),
        ("BMP", encode(sample_image((300, 200), "P"), "BMP")),
    ],
    ids=["P-transparent", "LA", "1", "P"],
)
def test_a_big_image_is_converted_a_band_at_a_time_as_it_is_whole(
    fmt: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conversion of a palette, bilevel or grey-and-alpha image to 8-bit RGB(A) or grey
    is done a band of rows at a time where the image is big: here made to count as big."""
    specs = (VariantSpec("same", 300, format="png"),)
    whole = [v.data for v in develop(data, specs).variants]
    monkeypatch.setattr("darkroom.imaging.engine._WHOLE_COPY_BYTES", 1000)
    monkeypatch.setattr("darkroom.imaging.engine._BAND_BYTES", 7 * 300 * 4)
    banded = develop(data, specs)
    assert banded.info.format.name == fmt
    assert [v.data for v in banded.variants] == whole


def test_a_palette_image_made_rgb_is_never_held_whole_twice() -> None:
    """A 100 MP GIF (a 1×1 picture on a 10000×10000 screen: 37 bytes) was converted from
    its palette whole, then copied: 730 MB at its peak, where a band at a time takes 350."""
    gif = gif_with_screen(encode(Image.new("P", (1, 1)), "GIF"), 10_000, 10_000)
    developing = develop_apart(gif)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 600


def _bmp_a4r4g4b4(width: int, height: int) -> bytes:
    """A valid 16-bit BMP (BITMAPV5HEADER, BI_BITFIELDS) with 4 bits a channel, alpha first."""
    row = (b"\x0f\xf8" * width).ljust(-(-width * 2 // 4) * 4, b"\0")
    body = row * height
    info = struct.pack("<IiiHHIIiiII", 124, width, height, 1, 16, 3, len(body), 0, 0, 0, 0)
    info += struct.pack("<4I", 0x0F00, 0x00F0, 0x000F, 0xF000) + b"BGRs"
    info = info.ljust(124, b"\0")
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + body


def test_a_bmp_in_a_channel_layout_pillow_cannot_read_is_said_unsupported() -> None:
    """A valid file, not a damaged one: the answer says what to do with it."""
    with pytest.raises(Unsupported, match=r"channel layout is not supported.*save it as PNG"):
        develop(_bmp_a4r4g4b4(8, 4), [VariantSpec("thumb", 4)])
