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

_MAX_PURE_REDUCTION = 100
SOURCE_RATIO = 3.0
"""Each variant is made from an image at least this many times its size (or the decoded
image): Lanczos from a barely larger image loses detail that one from far above keeps."""
_ALPHA_SOURCE_RATIO = 10.0
"""8-bit premultiplied alpha loses a little more at each step."""

# Each image is resized once: the operation cache would only hold pixels nobody asks for.
pyvips.cache_set_max(0)


def cascade(pixels: Pixels, sizes: Sequence[tuple[int, int]]) -> list[Pixels]:
    """`pixels` resized to each (width, height) of `sizes`, in the order given."""
    source = np.ascontiguousarray(pixels)
    height, width = source.shape[:2]
    bands = 1 if source.ndim == 2 else source.shape[2]
    start = pyvips.Image.new_from_memory(source.data, width, height, bands, "uchar")
    alpha = bands == 4
    if alpha:
        # 8-bit premultiplied, as Pillow resamples RGBA: libvips resamples floats several
        # times slower. Made once, in memory: every variant starts from it.
        start = (start.premultiply() + 0.5).cast("uchar").copy_memory()
    ratio = _ALPHA_SOURCE_RATIO if alpha else SOURCE_RATIO
    made = [start]
    results: dict[int, Pixels] = {}
    for index in sorted(range(len(sizes)), key=lambda i: sizes[i][0] * sizes[i][1], reverse=True):
        w, h = sizes[index]
        base = min(
            (m for m in made if m.width >= w * ratio and m.height >= h * ratio),
            key=lambda m: m.width * m.height,
            default=start,
        )
        if (base.width, base.height) != (w, h):
            base = _resize(base, w, h)
            made.append(base)
        results[index] = _pixels(
            (base.unpremultiply() + 0.5).cast("uchar") if alpha else base, source
        )
    return [results[index] for index in range(len(sizes))]


def _resize(image: pyvips.Image, w: int, h: int) -> pyvips.Image:
    factor = max(image.width / w, image.height / h)
    # Lanczos all the way, no box pre-shrink (it costs detail at the small sizes), up to
    # the reduction libvips' kernels can take in one go.
    gap = 0.0 if factor <= _MAX_PURE_REDUCTION else 2.0
    resized = image.resize(w / image.width, vscale=h / image.height, kernel="lanczos3", gap=gap)
    # materialised once, so the smaller variants made from it do not redo the work
    return resized.copy_memory()


def _pixels(image: pyvips.Image, source: Pixels) -> Pixels:
    """The image's pixels as an array shaped like `source` (grey stays 2-D); pyvips drops
    axes of length one, which a 1-pixel-wide variant has."""
    array: Pixels = image.numpy().reshape(image.height, image.width, image.bands)
    return array[:, :, 0] if source.ndim == 2 else array
