"""Variants to bytes: JPEG through libjpeg-turbo directly, the other formats through Pillow."""

from __future__ import annotations

import io

import numpy as np
import simplejpeg
from PIL import Image

from darkroom.domain import VariantSpec
from darkroom.errors import Unsupported
from darkroom.imaging import Rendered
from darkroom.imaging.resample import Pixels


def encode(spec: VariantSpec, pixels: Pixels) -> Rendered:
    """`pixels` as `spec` asks. `auto` is WebP where the variant has transparency (JPEG
    cannot hold it), JPEG otherwise; JPEG flattens any transparency onto white."""
    height, width = pixels.shape[:2]
    alpha = pixels.ndim == 3 and pixels.shape[2] == 4
    fmt = output_format(spec, alpha)
    if fmt == "jpeg":
        data = _jpeg(_flatten(pixels) if alpha else pixels, spec.quality)
        return Rendered(spec.name, data, width, height, "image/jpeg", "jpg")
    image = Image.fromarray(pixels)
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=spec.quality, method=4)
        content_type, extension = "image/webp", "webp"
    elif fmt == "avif":
        image.save(out, "AVIF", quality=spec.quality)
        content_type, extension = "image/avif", "avif"
    elif fmt == "png":
        image.save(out, "PNG")
        content_type, extension = "image/png", "png"
    else:
        raise Unsupported(f"variant {spec.name!r}: unknown output format {fmt!r}")
    return Rendered(spec.name, out.getvalue(), width, height, content_type, extension)


def output_format(spec: VariantSpec, alpha: bool) -> str:
    """The format `spec` asks for, `auto` resolved for an image with or without alpha."""
    if spec.format == "auto":
        return "webp" if alpha else "jpeg"
    return spec.format


def _jpeg(pixels: Pixels, quality: int) -> bytes:
    """Baseline JPEG with 4:2:0 chroma and the accurate DCT, as Pillow writes it."""
    grey = pixels.ndim == 2 or pixels.shape[2] == 1
    data: bytes = simplejpeg.encode_jpeg(
        np.ascontiguousarray(pixels.reshape(*pixels.shape[:2], 1) if grey else pixels),
        quality=quality,
        colorspace="GRAY" if grey else "RGB",
        colorsubsampling="Gray" if grey else "420",
        fastdct=False,
    )
    return data


def _flatten(pixels: Pixels) -> Pixels:
    """Onto white: colour·a + 255·(255 − a), over 255, rounded (Pillow's integer blend, in
    C: a few times faster than the same sum in NumPy)."""
    image = Image.fromarray(pixels)
    canvas = Image.new("RGB", image.size, (255, 255, 255))
    canvas.paste(image, mask=image)  # an RGBA mask: its alpha
    return np.asarray(canvas)
