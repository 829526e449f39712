"""Resampling through libvips: Lanczos-3 like Pillow's LANCZOS, several times faster.

Every variant is made in one cascade, largest first, each from the smallest image already
made that is big enough (see `SOURCE_RATIO`), so the small ones cost next to nothing.
Transparent images are resampled premultiplied, so that no colour bleeds out of the
invisible pixels (Pillow does the same). Pixels are resampled as stored and turned
upright (EXIF orientation) once they are small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyvips
from numpy.typing import NDArray

Pixels = NDArray[np.uint8]
"""height × width (× bands): 1 band grey, 3 RGB, 4 RGBA, 8 bits a sample."""

_MAX_PURE_REDUCTION = 6
SOURCE_RATIO = 1.5
"""Each variant is made from an image at least this many times its size (or the decoded
image): Lanczos from a barely larger image loses detail that one from far above keeps
(at 1.2 the corpus's most detailed photo loses 0.003 of SSIM on its thumbnail; at 1.5 no
file loses more than 0.0016)."""
_ALPHA_SOURCE_RATIO = 10.0
"""Premultiplied alpha loses more at each step, 16-bit intermediates included: every
transparent variant is made from the decoded image."""

_UPRIGHT: dict[int, Callable[[pyvips.Image], pyvips.Image]] = {
    2: lambda image: image.fliphor(),
    3: lambda image: image.rot180(),
    4: lambda image: image.flipver(),
    5: lambda image: image.rot90().fliphor(),
    6: lambda image: image.rot90(),
    7: lambda image: image.rot270().fliphor(),
    8: lambda image: image.rot270(),
}
"""EXIF orientation to the turn that shows the stored pixels upright."""

# Each image is resized once: the operation cache would only hold pixels nobody asks for.
pyvips.cache_set_max(0)


def from_array(pixels: Pixels) -> pyvips.Image:
    """An image over `pixels`' memory, without a copy (the image keeps the array alive)."""
    source = np.ascontiguousarray(pixels)
    bands = 1 if source.ndim == 2 else source.shape[2]
    height, width = source.shape[:2]
    return pyvips.Image.new_from_memory(source.data, width, height, bands, "uchar")


def premultiplied(image: pyvips.Image) -> pyvips.Image:
    """A 4-band `image` premultiplied by its alpha, 8 bits a sample as Pillow resamples RGBA
    (libvips resamples floats several times slower), held in memory. Its alpha is the
    image's; where that is opaque throughout, so are its colours."""
    made: pyvips.Image = (image.premultiply(max_alpha=255) + 0.5).cast("uchar").copy_memory()
    return made


def premultiply_in_place(pixels: Pixels, band_bytes: int) -> None:
    """`pixels` (height × width × 4) made `premultiplied`, in their own memory, a band of
    about `band_bytes` at a time."""
    height, width = pixels.shape[:2]
    rows = max(1, band_bytes // (width * 4))
    for top in range(0, height, rows):
        band = pixels[top : top + rows]
        made = premultiplied(from_array(band)).write_to_memory()
        band[...] = np.frombuffer(made, np.uint8).reshape(band.shape)


def cascade(
    start: pyvips.Image,
    sizes: Sequence[tuple[int, int]],
    orientation: int = 1,
    sequential: bool = False,
    convert: Callable[[Pixels], Pixels] | None = None,
    premultiplied_start: bool = False,
) -> list[Pixels]:
    """`start` (8-bit, 1, 3 or 4 bands), stored as the EXIF `orientation` says, resized to
    each upright (width, height) of `sizes`, in the order given, through `convert` (a colour
    conversion).

    The variants made from `start` are turned upright and converted as they are made, and
    the rest are made from those: no turn or conversion costs more than one pass over a
    variant. (Transparent variants are each converted: their sources are premultiplied.) A
    `sequential` start (a decoder read top to bottom, once) streams into its only variant,
    or is held in memory when several need it; only a decoder's image may be `sequential`:
    libvips' `copy_memory` of an image already in memory (`from_array`'s) hands back that
    memory without the reference that keeps the array alive. A transparent start is
    premultiplied here, into a copy in memory, unless it is `premultiplied_start` already."""
    width, height, bands = start.width, start.height, start.bands
    alpha = bands == 4
    turn = _UPRIGHT.get(orientation)
    swapped = orientation >= 5 and turn is not None
    steps = _plan(
        (height, width) if swapped else (width, height),
        sizes,
        _ALPHA_SOURCE_RATIO if alpha else SOURCE_RATIO,
    )
    if alpha and not premultiplied_start:
        start = premultiplied(start)  # made once: every variant starts from it
    elif sequential and sum(1 for _, base in steps if base == 0) > 1:
        start = start.copy_memory()
    # Upright sizes beside each image (pyvips reads every attribute from libvips); only the
    # first, `start`, is as stored.
    made: list[tuple[tuple[int, int], pyvips.Image]] = [((width, height), start)]
    results: dict[int, Pixels] = {}
    for index, base_index in steps:
        w, h = sizes[index]
        (base_w, base_h), base = made[base_index]
        if base_index == 0 and turn is not None:
            image = _turned(base, (base_w, base_h), (w, h), turn, swapped)
        else:
            image = _resize(base, (base_w, base_h), (w, h))
        # Computed once into a buffer that both the array and the smaller variants made from
        # this one share, without a copy.
        resized = image.write_to_memory()
        made.append(((w, h), pyvips.Image.new_from_memory(resized, w, h, bands, "uchar")))
        if alpha:
            unpremultiplied = (made[-1][1].unpremultiply(max_alpha=255) + 0.5).cast("uchar")
            array: Pixels = unpremultiplied.numpy().reshape(h, w, bands)
            if convert is not None:
                array = convert(array)
        else:
            array = np.frombuffer(resized, np.uint8).reshape(h, w, bands)
            if convert is not None and base_index == 0:
                array = convert(array)
                made[-1] = ((w, h), from_array(array))
        # pyvips drops axes of length one (a 1-pixel-wide variant); grey stays 2-D
        results[index] = array[:, :, 0] if bands == 1 else array
    return [results[index] for index in range(len(sizes))]


def _plan(
    start: tuple[int, int], sizes: Sequence[tuple[int, int]], ratio: float
) -> list[tuple[int, int]]:
    """(index into `sizes`, index of the image it is made from) for each size, largest first.
    Image 0 is the start, image n the n-th made: each size is made, even one the start
    already has (a copy, turned upright), so every variant is an array of its own."""
    made = [start]
    steps = []
    for index in sorted(range(len(sizes)), key=lambda i: sizes[i][0] * sizes[i][1], reverse=True):
        w, h = sizes[index]
        base = min(
            (i for i, (mw, mh) in enumerate(made) if mw >= w * ratio and mh >= h * ratio),
            key=lambda i: made[i][0] * made[i][1],
            default=0,
        )
        steps.append((index, base))
        made.append((w, h))
    return steps


def _turned(
    image: pyvips.Image,
    size: tuple[int, int],
    to: tuple[int, int],
    turn: Callable[[pyvips.Image], pyvips.Image],
    swapped: bool,
) -> pyvips.Image:
    """`image`, as stored and `size`, resized to the upright `to` and turned.

    A turn reads rows out of order, which a decoder read once cannot give, and which costs a
    resize computed on demand more than its own pass into memory: it turns an image in
    memory. A quarter turn comes between two reductions along columns, which libvips runs
    several times faster than along rows (where the bands are interleaved)."""
    if not swapped:
        return turn(_resize(image, size, to).copy_memory())
    width = size[0]
    columns = _resize(image, size, (width, to[0])).copy_memory()
    return _resize(turn(columns), (to[0], width), to)


def _resize(image: pyvips.Image, size: tuple[int, int], to: tuple[int, int]) -> pyvips.Image:
    factor = max(size[0] / to[0], size[1] / to[1])
    # Lanczos all the way, no box pre-shrink (it costs detail at the small sizes), up to the
    # reduction libvips' 8-bit kernels keep a flat tone at: beyond, their rounded weights
    # darken it (by 1 % at 20×, 3 % at 100×), and a box shrink first leaves Lanczos 3–6×.
    gap = 0.0 if factor <= _MAX_PURE_REDUCTION else 3.0
    resized: pyvips.Image = image.resize(
        to[0] / size[0], vscale=to[1] / size[1], kernel="lanczos3", gap=gap
    )
    return resized
