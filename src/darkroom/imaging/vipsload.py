"""PNG and WebP decoded by libvips: libspng is faster than Pillow's zlib path, and libwebp
can scale while decoding, which Pillow does not offer. Headers were checked by Pillow
before (limits, integrity); what libvips still refuses becomes `InvalidImage` upstream."""

from __future__ import annotations

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
