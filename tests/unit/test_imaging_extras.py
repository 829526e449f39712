"""Watermarks on chosen variants, and the blurhash placeholder of each photo."""

from __future__ import annotations

import numpy as np
import pytest

from darkroom.config import Settings
from darkroom.domain import DEFAULT_VARIANTS, VariantSpec, recipe_of
from darkroom.imaging import ENGINE, Watermark, develop
from darkroom.imaging.placeholder import encode, to_linear
from tests.unit.imaging_helpers import corpus_bytes, decode, pixels

SPECS = (VariantSpec("small", 160, format="png"), VariantSpec("big", 640, format="png"))
BLURHASH_DIGITS = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
)


def _render(watermark: Watermark | None) -> dict[str, np.ndarray]:
    developed = develop(corpus_bytes("S01_canon_sd300_2mp.jpg"), SPECS, watermark=watermark)
    return {v.name: pixels(decode(v.data)) for v in developed.variants}


def test_the_watermark_lands_on_the_chosen_variants_only_where_asked() -> None:
    plain = _render(None)
    marked = _render(Watermark("© darkroom", frozenset({"big"}), "bottom-right", 0.8, 0.3))
    assert np.array_equal(plain["small"], marked["small"])
    changed = np.abs(plain["big"] - marked["big"]).sum(axis=2) > 30
    rows, cols = np.nonzero(changed)
    height, width = changed.shape
    assert changed.sum() > 200
    # inside the bottom-right box: lower 20 % and right 40 %, about 30 % of the width wide
    assert rows.min() > height * 0.8 and cols.min() > width * 0.6
    assert 0.2 * width < cols.max() - cols.min() < 0.4 * width


@pytest.mark.parametrize("position", ["top-left", "center"])
def test_the_watermark_goes_where_it_is_put(position: str) -> None:
    plain = _render(None)["big"]
    marked = _render(Watermark("© darkroom", frozenset({"big"}), position, 1.0, 0.3))["big"]  # type: ignore[arg-type]
    rows, cols = np.nonzero(np.abs(plain - marked).sum(axis=2) > 30)
    height, width = plain.shape[:2]
    centre_row, centre_col = rows.mean() / height, cols.mean() / width
    if position == "top-left":
        assert centre_row < 0.2 and centre_col < 0.3
    else:
        assert 0.4 < centre_row < 0.6 and 0.4 < centre_col < 0.6


@pytest.mark.parametrize(
    ("text", "position", "opacity", "size"),
    [
        ("", "center", 0.5, 0.2),
        ("x", "middle", 0.5, 0.2),
        ("x", "center", 0, 0.2),
        ("x", "center", 0.5, 2),
    ],
)
def test_a_watermark_is_checked(text: str, position: str, opacity: float, size: float) -> None:
    with pytest.raises(ValueError):
        Watermark(text, frozenset({"big"}), position, opacity, size)  # type: ignore[arg-type]


def test_the_watermark_setting_changes_the_recipe() -> None:
    settings = Settings(watermark_text="© Ann", watermark_variants="w640, w1024")
    watermark = settings.watermark()
    assert watermark is not None and watermark.variants == {"w640", "w1024"}
    assert Settings().watermark() is None
    plain, marked = (
        recipe_of(DEFAULT_VARIANTS, ENGINE),
        recipe_of(DEFAULT_VARIANTS, ENGINE, watermark.fingerprint),
    )
    assert plain != marked


@pytest.mark.parametrize(
    "name", ["S01_canon_sd300_2mp.jpg", "O02_canon_1000d_10mp_o6.jpg", "A01_alpha_paper_2048.png"]
)
def test_every_photo_gets_a_blurhash(name: str) -> None:
    developed = develop(corpus_bytes(name))
    value = developed.blurhash
    assert set(value) <= set(BLURHASH_DIGITS)
    # the first character codes the components: 4×3 across a landscape, 3×4 up a portrait
    size_flag = BLURHASH_DIGITS.index(value[0])
    x, y = size_flag % 9 + 1, size_flag // 9 + 1
    portrait = developed.info.height > developed.info.width
    assert (x, y) == ((3, 4) if portrait else (4, 3))
    assert len(value) == 4 + 2 * x * y


def test_the_blurhash_is_the_reference_algorithm() -> None:
    """Known answers of woltapp's C encoder (blurhash-python 1.2.2) for corpus images."""
    known = {
        "S01_canon_sd300_2mp.jpg": "LSHLJVAV}TO@*I^kXm$%^+-qoz$$",
        "W02_webp_tree_1024.webp": "LLDK[dyEK-XAD@VrOIo#s:p1McZ~",
    }
    for name, expected in known.items():
        image = decode(corpus_bytes(name)).convert("RGB")
        image.thumbnail((32, 32))
        linear = to_linear(np.asarray(image, dtype=np.float64) / 255)
        assert encode(linear, 4, 3) == expected, name


def test_different_photos_get_different_blurhashes() -> None:
    hashes = {
        develop(corpus_bytes(n)).blurhash
        for n in ("S01_canon_sd300_2mp.jpg", "M01_flickr_saw_6mp.jpg", "W02_webp_tree_1024.webp")
    }
    assert len(hashes) == 3
