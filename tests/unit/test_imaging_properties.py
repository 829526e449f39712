"""Properties of `develop()` over small generated images of every common mode, container,
orientation and variant box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageOps

from darkroom.domain import OutputFormat, VariantSpec
from darkroom.imaging import develop, probe
from tests.unit.imaging_helpers import (
    decode,
    encode,
    fit_problems,
    flatten,
    luma,
    mean_abs_diff,
    reference_image,
    sample_image,
)

MODES = ("L", "RGB", "RGBA", "P", "LA", "I;16")
CONTAINERS: dict[str, tuple[str, ...]] = {
    "L": ("PNG", "JPEG", "TIFF"),
    "RGB": ("PNG", "JPEG", "WEBP", "TIFF", "BMP"),
    "RGBA": ("PNG", "WEBP", "TIFF"),
    "P": ("PNG", "GIF"),
    "LA": ("PNG", "TIFF"),
    "I;16": ("PNG", "TIFF"),
}
ORIENTED = ("JPEG", "PNG", "WEBP")
"""Containers the tests give an EXIF orientation."""
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "png": "image/png",
}
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Generated:
    data: bytes
    mode: str
    container: str
    orientation: int
    stored: tuple[int, int]
    alpha: bool
    """Whether some pixel is not fully opaque."""

    @property
    def shown(self) -> tuple[int, int]:
        w, h = self.stored
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)


def _pixels(width: int, height: int, seed: int, bands: int) -> NDArray[np.float64]:
    """Smooth gradients with some noise: structure for the resampler, noise for the coder."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for band in range(bands):
        fx, fy = rng.uniform(-1, 1, 2)
        ramp = 127.5 + 100 * np.sin((fx * x + fy * y) / 40 + band)
        planes.append(ramp + rng.normal(0, 12, (height, width)))
    result: NDArray[np.float64] = np.clip(np.dstack(planes), 0, 255)
    return result


@st.composite
def generated_images(draw: st.DrawFn) -> Generated:
    width = draw(st.integers(1, 600))
    height = draw(st.integers(1, 600))
    mode = draw(st.sampled_from(MODES))
    container = draw(st.sampled_from(CONTAINERS[mode]))
    seed = draw(st.integers(0, 2**32 - 1))
    orientation = draw(st.sampled_from((1, 1, 2, 3, 4, 5, 6, 7, 8))) if container in ORIENTED else 1
    planes = _pixels(width, height, seed, 4)
    rgb = Image.fromarray(planes[:, :, :3].astype(np.uint8))
    alpha_plane = planes[:, :, 3].astype(np.uint8)
    alpha = False
    if mode == "RGB":
        image = rgb
    elif mode == "L":
        image = rgb.convert("L")
    elif mode == "P":
        image = rgb.quantize(64)
    elif mode == "I;16":
        image = Image.fromarray((planes[:, :, 0] * 257).astype(np.uint16))
    else:  # RGBA, LA
        image = rgb.convert(mode[:-1])
        image.putalpha(Image.fromarray(alpha_plane))
        alpha = bool(alpha_plane.min() < 255)
    params: dict[str, object] = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif
    if container == "JPEG":
        params["quality"] = 90
    data = encode(image, container, **params)
    return Generated(data, image.mode, container, orientation, (width, height), alpha)


sides = st.integers(1, 1200)
boxes = st.one_of(
    st.tuples(sides, st.none()),  # width only
    st.tuples(st.none(), sides),  # height only
    st.tuples(sides, sides),
)
formats: st.SearchStrategy[OutputFormat] = st.sampled_from(("auto", "auto", "jpeg", "webp", "png"))


@st.composite
def variant_specs(draw: st.DrawFn) -> list[VariantSpec]:
    count = draw(st.integers(1, 3))
    specs = []
    for index in range(count):
        width, height = draw(boxes)
        specs.append(VariantSpec(f"v{index}", width, height, draw(formats)))
    return specs


@PROPERTY_SETTINGS
@given(generated_images(), variant_specs())
def test_variants_fit_their_box_and_decode(image: Generated, specs: list[VariantSpec]) -> None:
    result = develop(image.data, specs)
    assert (result.info.width, result.info.height) == image.shown
    assert result.info.has_alpha is image.alpha
    assert [v.name for v in result.variants] == [spec.name for spec in specs]
    for spec, rendered in zip(specs, result.variants, strict=True):
        size = (rendered.width, rendered.height)
        assert fit_problems(size, image.shown, spec) == [], spec
        decoded = decode(rendered.data)
        assert decoded.size == size
        expected_format = spec.format
        if expected_format == "auto":
            expected_format = "webp" if image.alpha else "jpeg"
        assert rendered.content_type == CONTENT_TYPES[expected_format]
        assert decoded.format == expected_format.upper()
        assert decoded.mode in ("L", "RGB", "RGBA")


@PROPERTY_SETTINGS
@given(generated_images())
def test_tones_survive_every_mode(image: Generated) -> None:
    """The variant looks like the source: same mean brightness (on white), whatever the mode."""
    spec = VariantSpec("v", 64, 64, "png")
    (rendered,) = develop(image.data, [spec]).variants
    got = flatten(decode(rendered.data))
    reference = reference_image(image.data).resize(got.size, Image.Resampling.LANCZOS)
    difference = abs(float(luma(got).mean()) - float(luma(flatten(reference)).mean()))
    assert difference < 3.0, (image.mode, image.container)


@PROPERTY_SETTINGS
@given(generated_images())
def test_probe_reports_the_size_as_shown(image: Generated) -> None:
    info = probe(image.data)
    assert (info.width, info.height) == image.shown
    assert info.frames == 1


@pytest.mark.parametrize("mode", MODES)
def test_one_pixel_images(mode: str) -> None:
    image = Image.new(mode, (1, 1))
    container = "PNG"
    data = encode(image, container)
    specs = [VariantSpec("a", 1), VariantSpec("b", None, 1), VariantSpec("c", 500, 500)]
    for rendered in develop(data, specs).variants:
        assert (rendered.width, rendered.height) == (1, 1)
        assert decode(rendered.data).size == (1, 1)


@pytest.mark.parametrize(
    ("size", "spec", "expected"),
    [
        ((600, 1), VariantSpec("w", 100), (100, 1)),  # never below one pixel
        ((1, 600), VariantSpec("h", None, 100), (1, 100)),
        ((1, 600), VariantSpec("w", 100), (1, 600)),  # narrower than the box: as is
        ((600, 1), VariantSpec("box", 100, 100), (100, 1)),
        ((601, 401), VariantSpec("half", 300), (300, 200)),
        ((400, 400), VariantSpec("box", 1000, 100), (100, 100)),
    ],
)
def test_extreme_aspects(
    size: tuple[int, int], spec: VariantSpec, expected: tuple[int, int]
) -> None:
    data = encode(Image.new("RGB", size, (200, 100, 50)), "PNG")
    (rendered,) = develop(data, [spec]).variants
    assert (rendered.width, rendered.height) == expected
    assert decode(rendered.data).size == expected


@pytest.mark.parametrize(
    ("container", "alpha"),
    [("JPEG", False), ("PNG", False), ("PNG", True), ("WEBP", False)],
    ids=["jpeg", "png", "transparent-png", "webp"],
)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_turns_every_variant(
    orientation: int, container: str, alpha: bool
) -> None:
    """The largest variant is made from the stored pixels (for PNG and WebP straight from a
    decoder that reads them once, top to bottom), the smaller one from it (or, with
    transparency, from the stored pixels again): both must come out upright."""
    # taller than the rows libvips' PNG decoder keeps, and reduced little: a turn that read
    # the decoder out of order would fail
    stored = sample_image((1500, 1000), "RGBA" if alpha else "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, container, exif=exif, quality=95)
    upright = ImageOps.exif_transpose(decode(data))
    width, height = upright.size
    specs = [VariantSpec("big", 600, format="png"), VariantSpec("small", 40, format="png")]
    for rendered in develop(data, specs).variants:
        got = decode(rendered.data)
        wanted = 600 if rendered.name == "big" else 40
        assert got.size == (wanted, round(height * wanted / width))
        assert mean_abs_diff(got, upright.resize(got.size, Image.Resampling.LANCZOS)) < 3.0
        if orientation not in (1, 5, 6, 7, 8):  # the other way round has another shape
            as_stored = decode(data).resize(got.size, Image.Resampling.LANCZOS)
            assert mean_abs_diff(got, as_stored) > 10.0, rendered.name


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_flat_tone_stays_the_same_at_every_reduction(mode: str) -> None:
    """Integer resampling kernels with many taps can lose a level or more to rounding."""
    colour = (200, 100, 255, 255) if mode == "RGBA" else (200, 100, 255)
    data = encode(Image.new(mode, (3000, 2000), colour), "PNG")
    specs = [VariantSpec(f"w{w}", w, format="png") for w in (2000, 600, 300, 100, 30)]
    # one variant at a time, each straight from the decoded image: 1.5× to 100× reductions
    for spec in specs:
        (rendered,) = develop(data, [spec]).variants
        got = np.asarray(decode(rendered.data).convert("RGB"))
        assert (got == colour[:3]).all(), (spec.name, got.min(axis=(0, 1)), got.max(axis=(0, 1)))
