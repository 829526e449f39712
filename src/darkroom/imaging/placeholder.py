"""A blurhash (blurha.sh) of the photo: ~30 characters the page paints as a blurred preview.

Written here on NumPy: the Python packages of the algorithm call Pillow APIs that Pillow 14
removes. The page's decoder is `web/static/blurhash.js`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from darkroom.imaging.resample import Pixels

_SIDE = 32
"""The hash holds 4×3 colours: a few dozen pixels a side carry all of them."""
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

Floats = NDArray[np.float64]


def placeholder(pixels: Pixels) -> str:
    """The blurhash of `pixels` (upright, grey, RGB or RGBA; transparency over white)."""
    image = Image.fromarray(pixels)
    if image.mode == "RGBA":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    image = image.convert("RGB")
    image.thumbnail((_SIDE, _SIDE), Image.Resampling.BOX)
    nx, ny = (4, 3) if image.width >= image.height else (3, 4)
    return encode(to_linear(np.asarray(image, dtype=np.float64) / 255), nx, ny)


def encode(linear: Floats, nx: int, ny: int) -> str:
    """Blurhash of linear-light RGB pixels (height × width × 3) with nx × ny components."""
    height, width = linear.shape[:2]
    xs = np.cos(np.pi * np.outer(np.arange(nx), np.arange(width)) / width)  # nx × width
    ys = np.cos(np.pi * np.outer(np.arange(ny), np.arange(height)) / height)  # ny × height
    # factors[j, i] = mean over the pixels of basis(i, j) · colour, doubled but for DC
    factors = 2 * np.einsum("jy,ix,yxc->jic", ys, xs, linear) / (width * height)
    factors[0, 0] /= 2
    dc, ac = factors[0, 0], np.delete(factors.reshape(-1, 3), 0, axis=0)
    maximum = float(np.abs(ac).max()) if len(ac) else 0.0
    quantised_max = int(max(0, min(82, np.floor(maximum * 166 - 0.5)))) if len(ac) else 0
    scale = (quantised_max + 1) / 166 if len(ac) else 1.0
    parts = [_base83(nx - 1 + (ny - 1) * 9, 1), _base83(quantised_max, 1), _dc(dc)]
    parts += [_ac(component, scale) for component in ac]
    return "".join(parts)


def _dc(rgb: Floats) -> str:
    r, g, b = (int(_to_srgb(v)) for v in rgb)
    return _base83((r << 16) + (g << 8) + b, 4)


def _ac(rgb: Floats, scale: float) -> str:
    r, g, b = (int(max(0, min(18, np.floor(_sign_pow(v / scale, 0.5) * 9 + 9.5)))) for v in rgb)
    return _base83(r * 19 * 19 + g * 19 + b, 2)


def _sign_pow(value: float, exponent: float) -> float:
    return float(np.copysign(abs(value) ** exponent, value))


def to_linear(srgb: Floats) -> Floats:
    result: Floats = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return result


def _to_srgb(linear: float) -> int:
    v = min(1.0, max(0.0, float(linear)))
    encoded = v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
    return int(encoded * 255 + 0.5)


def _base83(value: int, length: int) -> str:
    return "".join(_ALPHABET[(value // 83**i) % 83] for i in reversed(range(length)))
