"""PNG and WebP decoded by libvips: libspng is faster than Pillow's zlib path, and libwebp
can scale while decoding, which Pillow does not offer. Headers were checked by Pillow
before (limits, integrity); what libvips still refuses becomes `InvalidImage` upstream.
And the TIFFs Pillow cannot read, or reads wrong."""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np
import pyvips

from darkroom.errors import Unsupported


def load(data: bytes, scale: float = 1.0) -> tuple[pyvips.Image, bytes | None]:
    """The first frame as 8-bit grey, RGB or RGBA, and its ICC profile: an image decoded as
    it is read, top to bottom, once. `scale` < 1 asks libwebp for a smaller decode: only
    for WebP."""
    options: dict[str, object] = {"access": "sequential", "fail_on": "error"}
    if scale < 1:
        options["scale"] = scale
    image = pyvips.Image.new_from_buffer(data, "", **options)
    icc = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    if image.format == "ushort":  # 16 bits a sample: the high byte, as Pillow's path keeps
        # labelled 8-bit too: libvips reads the largest alpha (65535 or 255) from the label
        label = "srgb" if image.bands >= 3 else "b-w"
        image = image.cast("uchar", shift=True).copy(interpretation=label)
    elif image.format != "uchar":
        image = image.cast("uchar")
    if image.bands == 2:  # grey and alpha
        image = image.colourspace("srgb")
    return image, icc


def load_webp(data: bytes, scale: float) -> tuple[pyvips.Image, bytes | None]:
    """A WebP's first frame as `load` gives it, `scale` of its size. That of an animation
    whose first frame is smaller than its canvas is decoded alone and placed on a
    transparent canvas at that scale: libvips neither scales such an animation nor reads
    it in one pass (a 140-byte file with a 2×2 first frame on a 10000×10000 canvas took
    819 MB: the canvas, and a copy)."""
    frame = _partial_first_frame(data)
    if frame is None:
        return load(data, scale)
    canvas = [max(1, round(side * scale)) for side in frame.canvas]
    if min(frame.size) * scale >= 1:
        image, icc = load(frame.still, scale)
    else:  # a frame libwebp would scale to nothing across: decoded whole, a few rows
        image, icc = load(frame.still)
        image = image.copy_memory().resize(scale)
    if image.bands == 3:
        image = image.bandjoin(255)
    placed = image.embed(
        round(frame.left * scale),
        round(frame.top * scale),
        *canvas,
        extend="background",
        background=[0, 0, 0, 0],
    )
    return placed, icc


class _Frame(NamedTuple):
    still: bytes
    """The frame as a WebP of its own, with the animation's colour profile."""
    left: int
    top: int
    size: tuple[int, int]
    canvas: tuple[int, int]


_VP8X_ANIMATED, _VP8X_ALPHA, _VP8X_ICC = 0x02, 0x10, 0x20


def _partial_first_frame(data: bytes) -> _Frame | None:
    """The first frame of an animated WebP where it does not cover the canvas; None for
    anything else, or a file whose chunks do not read as that (libvips judges it)."""
    chunks = dict[bytes, tuple[int, int]]()
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        chunks.setdefault(kind, (pos + 8, length))
        if kind == b"ANMF":
            break
        pos += 8 + length + (length & 1)
    if b"VP8X" not in chunks or b"ANMF" not in chunks:
        return None
    start, length = chunks[b"VP8X"]
    if length < 10 or not data[start] & _VP8X_ANIMATED:
        return None
    canvas = (_u24(data, start + 4) + 1, _u24(data, start + 7) + 1)
    start, length = chunks[b"ANMF"]
    if length < 16:
        return None
    left, top = 2 * _u24(data, start), 2 * _u24(data, start + 3)
    size = (_u24(data, start + 6) + 1, _u24(data, start + 9) + 1)
    if (left, top) == (0, 0) and size == canvas:
        return None
    flags = _VP8X_ALPHA
    profile = b""
    if b"ICCP" in chunks:
        at, icc_length = chunks[b"ICCP"]
        profile = _chunk(b"ICCP", data[at : at + icc_length])
        flags |= _VP8X_ICC
    header = bytes((flags, 0, 0, 0)) + _u24_bytes(size[0] - 1) + _u24_bytes(size[1] - 1)
    body = b"WEBP" + _chunk(b"VP8X", header) + profile + data[start + 16 : start + length]
    still = b"RIFF" + struct.pack("<I", len(body)) + body
    return _Frame(still, left, top, size, canvas)


def _u24(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 3], "little")


def _u24_bytes(value: int) -> bytes:
    return value.to_bytes(3, "little")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


_DEVICE_SPACES = frozenset({"b-w", "grey16", "srgb", "rgb16"})
"""Pixels an embedded profile describes; libvips converts any other (CMYK, Lab, XYZ) to
sRGB itself, with the profile for CMYK."""
_EIGHT_BIT_SPACES = {"grey16": "b-w", "rgb16": "srgb"}
_DEVICE_FORMATS = frozenset({"uchar", "ushort", "float"})
"""Sample types of grey and RGB read here: 8 and 16 bits, and floating point from 0 to 1
(or to 255)."""


def first_page(data: bytes, in_order: bool = False) -> pyvips.Image:
    """The first page's header; its pixels are decoded when asked for, top to bottom once
    if `in_order`, else in any order (a turned page is read out of order, and float
    samples are measured before they are converted)."""
    options = {"access": "sequential"} if in_order else {}
    return pyvips.Image.new_from_buffer(data, "", fail_on="error", **options)


def upright_8bit(image: pyvips.Image, alpha: bool) -> tuple[np.ndarray, bytes | None]:
    """`image` turned upright (its orientation tag, as Pillow turns a TIFF) as 8-bit grey
    or sRGB, with its first extra channel as alpha if `alpha`, without the others; and the
    profile its pixels are still in, if any."""
    space = image.interpretation
    device = space in _DEVICE_SPACES
    if device and image.format not in _DEVICE_FORMATS:
        raise Unsupported(f"this TIFF's samples ({image.format}) are not a kind darkroom reads")
    colours = _COLOUR_BANDS.get(space, 3)
    if not colours <= image.bands <= colours + _MAX_EXTRA_CHANNELS:
        raise Unsupported(f"this TIFF has {image.bands} channels for its {space} colours")
    icc = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    if image.format == "float" and device:
        if image.max() <= 1.0:
            image = image * 255  # samples from 0 to 1, as most tools write them
        # libvips labels half floats (16 bits a sample) "grey16" or "rgb16", for which
        # `colourspace` would divide these 0-255 samples by 256 into black.
        space = _EIGHT_BIT_SPACES.get(space, space)
    grey = colours == 1
    colour = image.extract_band(0, n=colours).copy(interpretation=space)
    if space == "cmyk":
        # With the rendering intent every other CMYK image is converted with (ImageCms'
        # default, and browsers'): `colourspace` takes the relative one.
        upright = colour.icc_transform("srgb", embedded=True, intent="perceptual")
    else:
        upright = _8bit(colour.colourspace("b-w" if grey else "srgb"))
    if alpha and image.bands > colours:
        upright = upright.bandjoin(_alpha_8bit(image.extract_band(colours)))
    return upright.autorot().numpy(), icc if device else None


_COLOUR_BANDS = {"b-w": 1, "grey16": 1, "cmyk": 4}
"""Colour channels of each interpretation; three for the others."""
_MAX_EXTRA_CHANNELS = 8
"""Alpha and spot colours beyond the colour channels; libvips decodes every one of them
(63 of them in a 100 MP file: 22 s and 1.8 GB)."""


def _8bit(image: pyvips.Image) -> pyvips.Image:
    if image.format == "ushort":
        return image.cast("uchar", shift=True)
    return image if image.format == "uchar" else image.cast("uchar")


def _alpha_8bit(alpha: pyvips.Image) -> pyvips.Image:
    """An extra channel as 8-bit alpha. libvips reads 8- and 16-bit CIELab with its extra
    channels into signed 16-bit samples, of the same bits."""
    if alpha.format == "short":
        return ((alpha.cast("int") & 0xFFFF) >> 8).cast("uchar")
    if alpha.format in ("float", "double") and alpha.max() <= 1.0:
        return (alpha * 255).cast("uchar")
    return _8bit(alpha)
