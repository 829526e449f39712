"""What a decode holds at its peak stays near what the image's size needs, each measured in a
fresh interpreter (see `develop_apart`); what would need more is refused as too large."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import pyvips
from PIL import Image

from darkroom.domain import VariantSpec
from darkroom.errors import InvalidImage, TooLarge
from darkroom.imaging import Limits, avif, develop
from darkroom.imaging.formats import JPEG
from darkroom.imaging.integrity import check_container
from tests.unit.imaging_helpers import (
    decode,
    develop_apart,
    encode,
    flatten,
    gif_with_screen,
    heic_grid,
    jpeg_with_size,
    mean_abs_diff,
    png_flat,
    sample_image,
    webp_animation,
)

SIDE = 10_000
"""100 MP, the default pixel limit."""


@cache
def _avif_at_the_limit() -> bytes:
    """100 MP of one colour, as libvips writes an AVIF (a few kilobytes)."""
    colour = pyvips.Image.black(SIDE, SIDE, bands=3).linear(1, [40, 90, 160]).cast("uchar")
    data: bytes = colour.copy(interpretation="srgb").heifsave_buffer(
        compression="av1", Q=30, effort=0
    )
    return data


def test_a_transparent_png_is_held_once() -> None:
    """The decoded image was held whole for the alpha check, then premultiplied into a
    second copy: 942 MB at its peak; premultiplied as it is read, 580."""
    png = png_flat(SIDE, SIDE, bytes((200, 100, 50, 128)) * SIDE)
    developing = develop_apart(png)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 750


def test_an_interlaced_16_bit_png_is_decoded_into_its_array() -> None:
    """Pillow decodes it to 8 bits (libvips would hold it whole at 16), and its pixels were
    copied from Pillow's memory into an array beside them: 826 MB at its peak; decoded
    into the array, 530."""
    png = png_flat(SIDE, SIDE, bytes((200, 0, 100, 0, 50, 0, 128, 0)) * SIDE, 16, 6, True)
    developing = develop_apart(png)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 650


@pytest.mark.parametrize("data_limit_mb", [250, 350], ids=["dav1d", "libavif"])
def test_an_avif_decoder_that_runs_out_of_memory_refuses_it_as_too_large(
    data_limit_mb: int,
) -> None:
    """dav1d refused its planes ("Decoding of color planes failed"), or libavif its RGB
    frame ("Out of memory"): either failed the photo as damaged."""
    developing = develop_apart(_avif_at_the_limit(), data_limit_mb=data_limit_mb)
    assert developing.outcome == "TooLarge: this AVIF image needs too much memory"


@pytest.mark.parametrize("data_limit_mb", [150, 250], ids=["libde265", "libheif"])
def test_a_heic_decoder_that_runs_out_of_memory_refuses_it_as_too_large(
    data_limit_mb: int,
) -> None:
    """libde265 refused its picture ("did not give a decompressed image"), or libheif an
    allocation ("Memory allocation error"): either failed the photo as damaged."""
    heic = encode(Image.new("RGB", (6000, 6000), (40, 90, 160)), "HEIF", quality=10)
    developing = develop_apart(heic, data_limit_mb=data_limit_mb)
    assert developing.outcome == "TooLarge: this HEIC image needs too much memory"


@pytest.mark.parametrize(
    ("fmt", "kept", "said"),
    [
        ("AVIF", 16, "Decoding of color planes failed"),
        ("HEIF", 4, "did not give a decompressed image"),
    ],
)
def test_a_codec_that_gives_no_picture_with_memory_to_spare_finds_the_file_damaged(
    fmt: str, kept: int, said: str
) -> None:
    """The codec says the same of damaged data as of memory it was refused."""
    data = bytearray(encode(sample_image((320, 240)), fmt, quality=60))
    meta = next(body for kind, body in avif._boxes(bytes(data)) if kind == b"meta")
    iloc = dict(avif._boxes(meta[4:]))[b"iloc"]
    ((offset, length),) = avif._extents(iloc)[1][1]
    data[offset + kept : offset + length] = bytes(length - kept)
    with pytest.raises(InvalidImage, match=said):
        develop(bytes(data))


def test_an_animation_is_scaled_whatever_its_first_frame_covers() -> None:
    """libvips neither scales an animated WebP whose first frame is smaller than its canvas
    nor reads it in one pass: a 2×2 frame on a 10000×10000 canvas took 993 MB; decoded
    alone and placed on a scaled canvas, 118."""
    webp = webp_animation((SIDE, SIDE), [(0, 0, Image.new("RGBA", (2, 2), (255, 0, 0, 128)))])
    assert len(webp) < 200
    developing = develop_apart(webp)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 400


def test_a_first_frame_smaller_than_its_canvas_shows_where_it_is_placed() -> None:
    """As libvips composes it: the frame where it is placed, transparent around it (here
    decoded at 0.43 of its size)."""
    frame = sample_image((1000, 600), "RGBA")
    webp = webp_animation(
        (3000, 2250), [(1000, 800, frame), (0, 0, Image.new("RGBA", (3000, 2250), "blue"))]
    )
    composed = pyvips.Image.new_from_buffer(webp, "").numpy()
    expected = Image.fromarray(composed).resize((640, 480), Image.Resampling.LANCZOS)
    (variant,) = develop(webp, (VariantSpec("w640", 640, format="webp"),)).variants
    shown = decode(variant.data)
    assert shown.size == (640, 480)
    assert mean_abs_diff(flatten(shown), flatten(expected)) < 1.5


def test_a_progressive_jpeg_whose_coefficients_outgrow_the_budget_is_refused() -> None:
    """libjpeg holds every DCT coefficient of a progressive JPEG: a 1.5 MB 100 MP CMYK one
    took 911 MB. Its 800 MB of coefficients are refused from the header, over the 600 MB a
    three-channel image at the 100 MP limit may take; 75 MP of CMYK are not."""
    small = encode(Image.new("CMYK", (64, 64), (10, 20, 30, 40)), "JPEG", progressive=True)
    claimed = jpeg_with_size(small, SIDE, SIDE)
    with pytest.raises(TooLarge, match="progressive JPEG needs 800 MB to decode"):
        develop(claimed)
    check_container(jpeg_with_size(small, SIDE, SIDE * 3 // 4), JPEG, 1, Limits().memory_budget)


def test_a_progressive_camera_jpeg_at_the_pixel_limit_is_developed() -> None:
    """4:2:0, as cameras write them: 300 MB of coefficients at 100 MP."""
    image = Image.effect_noise((SIDE // 10, SIDE // 10), 40).convert("RGB").resize((SIDE, SIDE))
    jpeg = encode(image, "JPEG", progressive=True, subsampling=2, quality=85)
    del image
    developing = develop_apart(jpeg)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 600


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_decoder_that_runs_out_of_memory_refuses_the_image_as_too_large(fmt: str) -> None:
    """libjpeg and libvips say so in words of their own, not as MemoryError: libjpeg's
    "Insufficient memory" failed the photo as damaged."""
    image = Image.new("RGB", (SIDE, SIDE // 2), (40, 90, 160))
    data = encode(image, fmt, progressive=True) if fmt == "JPEG" else encode(image, fmt)
    del image
    developing = develop_apart(data, data_limit_mb=200)
    assert (
        developing.outcome
        == f"TooLarge: this {fmt.replace('JPEG', 'JPG')} image needs too much memory"
    )


def test_a_grid_that_repeats_its_tiles_is_refused() -> None:
    """libheif decodes every cell on its own: a 386 KB HEIC that put one noisy 512×512 tile
    in all 361 cells of a 95 MP grid took 15 s and 460 MB."""
    tile = Image.effect_noise((64, 64), 60).convert("RGB")
    with pytest.raises(TooLarge, match="grid repeats its tiles: 16 cells, 1 of them coded"):
        develop(heic_grid([tile], 4, 4))


def test_a_grid_of_tiles_all_its_own_is_developed() -> None:
    colours = [(255, 0, 0), (0, 128, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (128, 128, 0)]
    tiles = [Image.new("RGB", (64, 64), colour) for colour in colours]
    developed = develop(heic_grid(tiles, 3, 2), (VariantSpec("same", 192, format="png"),))
    assert (developed.info.width, developed.info.height) == (192, 128)
    shown = np.asarray(decode(developed.variants[0].data).convert("RGB"), np.int16)
    centres = [shown[32 + 64 * (cell // 3), 32 + 64 * (cell % 3)] for cell in range(6)]
    assert np.abs(np.array(centres) - colours).max() <= 8


def test_a_transparent_image_decoded_into_an_array_is_premultiplied_in_place() -> None:
    """A 45-byte GIF, one transparent pixel on a 10000×10000 screen, was made RGBA (400 MB)
    and premultiplied into a copy: 875 MB at its peak; premultiplied in place, 539."""
    pixel = Image.new("P", (1, 1))
    gif = gif_with_screen(encode(pixel, "GIF", transparency=0), SIDE, SIDE)
    developing = develop_apart(gif)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 700
