"""A `Watermark`'s text drawn on a variant's pixels, through Pillow's FreeType."""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from darkroom.imaging.resample import Pixels
from darkroom.imaging.watermark import Position, Watermark

_PROBE_SIZE = 100


def apply(watermark: Watermark, pixels: Pixels) -> Pixels:
    """`pixels` (upright, grey, RGB or RGBA) with the text drawn in white over a soft dark
    outline, so it reads on light and dark photos alike."""
    image = Image.fromarray(pixels)
    mode = image.mode
    base = image.convert("RGBA")
    height = base.height
    font = _font(_font_size(watermark.text, watermark.size * base.width))
    left, top, right, bottom = map(int, font.getbbox(watermark.text, stroke_width=_stroke(font)))
    margin = max(1, round(0.03 * min(base.width, height)))
    x, y = _place(watermark.position, (base.width, height), (right - left, bottom - top), margin)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    alpha = round(255 * watermark.opacity)
    ImageDraw.Draw(layer).text(
        (x - left, y - top),
        watermark.text,
        font=font,
        fill=(255, 255, 255, alpha),
        stroke_width=_stroke(font),
        stroke_fill=(0, 0, 0, alpha // 2),
    )
    marked = Image.alpha_composite(base, layer)
    return np.asarray(marked if mode == "RGBA" else marked.convert(mode))


def _place(
    position: Position, canvas: tuple[int, int], box: tuple[int, int], margin: int
) -> tuple[int, int]:
    (width, height), (w, h) = canvas, box
    if position == "center":
        return (width - w) // 2, (height - h) // 2
    x = margin if position.endswith("left") else width - w - margin
    y = margin if position.startswith("top") else height - h - margin
    return x, y


def _font_size(text: str, width: float) -> int:
    probe = _font(_PROBE_SIZE)
    left, _, right, _ = probe.getbbox(text)
    return max(6, int(_PROBE_SIZE * width / max(1, right - left)))


def _stroke(font: ImageFont.FreeTypeFont) -> int:
    return max(1, round(font.size / 24))


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("watermarks need a Pillow built with FreeType")
    return font
