"""JPEGs of sampling factors TurboJPEG's API has no name for are decoded (by libjpeg, through
Pillow), not refused as damaged."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from darkroom.domain import VariantSpec
from darkroom.imaging import develop

Sampling = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""Horizontal and vertical sampling factors of Y, Cb and Cr."""

_DC_CATEGORIES = 12
"""Our DC code: each size category 0-11 coded in 4 bits (0000 to 1011)."""


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.value = self.count = 0

    def put(self, value: int, count: int) -> None:
        for shift in range(count - 1, -1, -1):
            self.value = (self.value << 1) | ((value >> shift) & 1)
            self.count += 1
            if self.count == 8:
                self.out += b"\xff\x00" if self.value == 0xFF else bytes([self.value])
                self.value = self.count = 0

    def flush(self) -> bytes:
        if self.count:
            self.put(0xFF, 8 - self.count)  # pad with ones
        return bytes(self.out)


def _flat_jpeg(width: int, height: int, ycbcr: tuple[int, int, int], sampling: Sampling) -> bytes:
    """A baseline JPEG of one colour in any sampling factors: each block only its DC
    coefficient (the quantisation table all ones), then end-of-block."""

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    components = b"".join(bytes([i + 1, h << 4 | v, 0]) for i, (h, v) in enumerate(sampling))
    dc_table = bytes([0x00]) + bytes([0, 0, 0, _DC_CATEGORIES] + [0] * 12) + bytes(range(12))
    ac_table = bytes([0x10]) + bytes([1] + [0] * 15) + bytes([0x00])  # EOB, coded "0"
    header = b"\xff\xd8" + segment(0xDB, bytes([0]) + bytes([1] * 64))
    header += segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + components)
    header += segment(0xC4, dc_table + ac_table)
    header += segment(0xDA, bytes([3, 1, 0, 2, 0, 3, 0, 0, 63, 0]))
    h_max = max(h for h, _ in sampling)
    v_max = max(v for _, v in sampling)
    mcus = -(-width // (8 * h_max)) * -(-height // (8 * v_max))
    bits = _Bits()
    for mcu in range(mcus):
        for (h, v), value in zip(sampling, ycbcr, strict=True):
            for block in range(h * v):
                # the DC coefficient of a flat block, as a difference from the one before
                dc = 8 * (value - 128) if mcu == 0 and block == 0 else 0
                size = abs(dc).bit_length()
                bits.put(size, 4)
                bits.put(dc if dc >= 0 else dc + (1 << size) - 1, size)
                bits.put(0, 1)  # end of block
    return header + bits.flush() + b"\xff\xd9"


def _ycbcr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return round(y), round(128 + (b - y) / 1.772), round(128 + (r - y) / 1.402)


@pytest.mark.parametrize(
    "sampling",
    [
        ((3, 1), (1, 1), (1, 1)),
        ((4, 2), (1, 1), (1, 1)),
        ((4, 1), (2, 1), (2, 1)),  # 4:2:2, written with factors twice as large
        ((1, 1), (2, 2), (2, 2)),  # chroma sampled finer than luma
        ((1, 1), (1, 1), (1, 2)),
    ],
    ids=str,
)
def test_a_jpeg_of_unusual_sampling_factors_is_decoded(sampling: Sampling) -> None:
    """They failed as InvalidImage: "tjDecompressHeader3(): Could not determine subsampling
    level of JPEG image", though libjpeg (Pillow, libvips, browsers) shows them."""
    colour = (200, 60, 110)
    data = _flat_jpeg(96, 64, _ycbcr(colour), sampling)
    with Image.open(io.BytesIO(data)) as reference:  # the file is what it says
        assert np.abs(np.asarray(reference, np.int16) - colour).max() <= 3
    (variant,) = develop(data, (VariantSpec("w64", width=64),)).variants
    shown = np.asarray(Image.open(io.BytesIO(variant.data)).convert("RGB"), np.int16)
    assert shown.shape == (43, 64, 3)
    assert np.abs(shown[8:-8, 8:-8] - colour).max() <= 4


def test_a_jpeg_of_usual_sampling_factors_still_decodes() -> None:
    data = _flat_jpeg(96, 64, _ycbcr((10, 200, 30)), ((2, 2), (1, 1), (1, 1)))
    (variant,) = develop(data, (VariantSpec("w64", width=64),)).variants
    shown = np.asarray(Image.open(io.BytesIO(variant.data)).convert("RGB"), np.int16)
    assert np.abs(shown[8:-8, 8:-8] - (10, 200, 30)).max() <= 4
