"""WebP stills are decoded whole by libwebp, straight into an array; animations, and stills
too big for the budget, are scaled while decoding by libvips."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from darkroom.domain import VariantSpec
from darkroom.errors import InvalidImage
from darkroom.imaging import develop, engine, libwebp, vipsload
from tests.unit.imaging_helpers import (
    corpus_bytes,
    decode,
    encode,
    luma,
    mean_abs_diff,
    reference_image,
    roundtrip,
    sample_image,
    ssim,
    webp_animation,
)
from tests.unit.test_imaging_corpus import SSIM_FLOOR

BUDGET = 1 << 30


@pytest.mark.parametrize(
    ("mode", "params"),
    [("RGB", {"quality": 80}), ("RGBA", {"quality": 80}), ("RGBA", {"lossless": True})],
)
def test_a_still_is_decoded_as_pillow_decodes_it(mode: str, params: dict[str, object]) -> None:
    data = encode(sample_image((97, 61), mode), "WEBP", **params)
    pixels = libwebp.decode(data, BUDGET)
    assert pixels is not None
    assert pixels.shape == (61, 97, len(mode))
    assert np.array_equal(pixels, np.asarray(decode(data)))


def test_an_animation_is_left_to_libvips() -> None:
    frame = sample_image((40, 30), "RGBA")
    assert libwebp.decode(webp_animation((40, 30), [(0, 0, frame)]), BUDGET) is None


def test_a_still_over_the_budget_is_left_to_libvips() -> None:
    data = encode(sample_image((100, 50)), "WEBP")
    assert libwebp.decode(data, 100 * 50 * 3) is not None
    assert libwebp.decode(data, 100 * 50 * 3 - 1) is None


def test_a_sharp_photo_keeps_its_detail() -> None:
    """A photo of shop signs resized by software, a little over twice the largest variant:
    scaled by libwebp to twice that variant while decoding, it lost 0.00225 of SSIM."""
    with Image.open(io.BytesIO(corpus_bytes("P02_japanese_shop_12mp_prog.jpg"))) as photo:
        sharp = photo.convert("RGB").resize((2400, 1603), Image.Resampling.LANCZOS)
    data = encode(sharp, "WEBP", quality=90, method=0)
    reference = reference_image(data)
    for variant in develop(data, [VariantSpec("w1024", 1024), VariantSpec("w640", 640)]).variants:
        got = decode(variant.data)
        truth = reference.resize(got.size, Image.Resampling.LANCZOS)
        delta = ssim(luma(got), luma(truth)) - ssim(luma(roundtrip(truth, "JPEG")), luma(truth))
        assert delta >= SSIM_FLOOR, (variant.name, delta)


def test_a_still_over_the_budget_is_scaled_while_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same picture: libwebp averages areas while it scales, where the whole image is
    resampled by Lanczos (3 levels apart on average on this detailed photo)."""
    data = corpus_bytes("W02_webp_tree_1024.webp")
    specs = [VariantSpec("w200", 200), VariantSpec("w100", 100, format="png")]
    whole = develop(data, specs).variants
    monkeypatch.setattr(engine, "_WEBP_WHOLE_BYTES", 0)
    scales: list[float] = []
    load = vipsload.load

    def scaled_load(data: bytes, scale: float = 1.0) -> tuple[Any, bytes | None]:
        scales.append(scale)
        return load(data, scale)

    monkeypatch.setattr(vipsload, "load", scaled_load)
    scaled = develop(data, specs).variants
    assert len(scales) == 1 and scales[0] < 0.5  # twice the largest variant's size
    for a, b in zip(whole, scaled, strict=True):
        assert (a.width, a.height) == (b.width, b.height)
        assert mean_abs_diff(decode(a.data), decode(b.data)) < 6, a.name


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_a_truncated_still_is_refused(keep: float) -> None:
    data = encode(sample_image((300, 200)), "WEBP", quality=90)
    with pytest.raises(InvalidImage):
        develop(data[: int(len(data) * keep)])
