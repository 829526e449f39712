"""PNG and WebP decoded by libvips: libspng is faster than Pillow's zlib path, and libwebp
can scale while decoding, which Pillow does not offer. Headers were checked by Pillow
before (limits, integrity); what libvips still refuses becomes `InvalidImage` upstream.
And the TIFFs Pillow cannot read at all."""

from __future__ import annotations

import numpy as np
import pyvips


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


def first_page(data: bytes) -> pyvips.Image:
    """The first page's header; its pixels are decoded as they are read."""
    return pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")


def upright_8bit(image: pyvips.Image) -> tuple[np.ndarray, bytes | None]:
    """`image` turned upright (its orientation tag, as Pillow turns a TIFF) as 8-bit grey
    or sRGB, alpha kept; and the profile its pixels are still in, if any."""
    device = image.interpretation in _DEVICE_SPACES
    icc = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    grey = image.interpretation in ("b-w", "grey16")
    image = image.autorot().colourspace("b-w" if grey else "srgb")
    if image.bands > (2 if grey else 4):  # more than one alpha, or other extra channels
        image = image.extract_band(0, n=2 if grey else 4)
    if image.format == "ushort":
        image = image.cast("uchar", shift=True)
    elif image.format != "uchar":
        image = image.cast("uchar")
    return image.numpy(), icc if device else None
