"""Resampling through libvips: Lanczos-3 like Pillow's LANCZOS, several times faster.

Every variant is made in one cascade, largest first, each from the smallest image already
made that is big enough (see `SOURCE_RATIO`), so the small ones cost next to nothing.
Transparent images are resampled premultiplied, so that no colour bleeds out of the
invisible pixels (Pillow does the same).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyvips
from numpy.typing import NDArray

Pixels = NDArray[np.uint8]
"""height × width (× bands): 1 band grey, 3 RGB, 4 RGBA, 8 bits a sample."""

KERNEL = "lanczos3"
_MAX_PURE_REDUCTION = 100
SOURCE_RATIO = 3.0
"""Each variant is made from an image at least this many times its size (or the decoded
image): Lanczos from a barely larger image loses detail that one from far above keeps."""

# Each image is resized once: the operation cache would only hold pixels nobody asks for.
pyvips.cache_set_max(0)


def cascade(pixels: Pixels, sizes: Sequence[tuple[int, int]]) -> list[Pixels]:
    """`pixels` resized to each (width, height) of `sizes`, in the order given."""
    height, width = pixels.shape[:2]
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    source = np.ascontiguousarray(pixels)
    image = pyvips.Image.new_from_memory(source.data, width, height, bands, "uchar")
    alpha = bands == 4
    if alpha:
        # Premultiplied in floats: slower than integers, but 8 or 16 bits lose detail at the
        # small sizes (measured with the SSIM gate of the corpus tests).
        image = image.premultiply()
    made: list[pyvips.Image] = [image]
    results: dict[int, Pixels] = {}
    for index in sorted(range(len(sizes)), key=lambda i: sizes[i][0] * sizes[i][1], reverse=True):
        w, h = sizes[index]
        base = min(
            (m for m in made if m.width >= w * SOURCE_RATIO and m.height >= h * SOURCE_RATIO),
            key=lambda m: m.width * m.height,
            default=image,
        )
        if (base.width, base.height) != (w, h):
            factor = max(base.width / w, base.height / h)
            # Lanczos all the way, no box pre-shrink (it costs detail at the small sizes),
            # up to the reduction libvips' kernels can take in one go.
            gap = 0.0 if factor <= _MAX_PURE_REDUCTION else 2.0
            base = base.resize(w / base.width, vscale=h / base.height, kernel=KERNEL, gap=gap)
            # materialised once, so the smaller variants made from it do not redo the work
            base = base.copy_memory()
            made.append(base)
        results[index] = _pixels(
            (base.unpremultiply() + 0.5).cast("uchar") if alpha else base, source
        )
    return [results[index] for index in range(len(sizes))]


def _pixels(image: pyvips.Image, source: Pixels) -> Pixels:
    """The image's pixels as an array shaped like `source` (grey stays 2-D); pyvips drops
    axes of length one, which a 1-pixel-wide variant has."""
    array: Pixels = image.numpy().reshape(image.height, image.width, image.bands)
    return array[:, :, 0] if source.ndim == 2 else array
