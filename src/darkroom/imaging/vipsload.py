"""PNG and WebP decoded by libvips: libspng is faster than Pillow's zlib path, and libwebp
can scale while decoding, which Pillow does not offer. Headers were checked by Pillow
before (limits, integrity); what libvips still refuses becomes `InvalidImage` upstream.
And the TIFFs Pillow cannot read, or reads wrong."""

from __future__ import annotations

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
