"""Broken, hostile and oversized inputs, made by the tests from the corpus: each is refused
with exactly one of darkroom's permanent image errors, quickly, and never turns into
variants of garbage."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
import pyvips
from PIL import AvifImagePlugin, Image, ImageCms, ImageFile, TiffImagePlugin, WebPImagePlugin
from pillow_heif import as_plugin as heif_plugin

from darkroom.domain import VariantSpec
from darkroom.errors import (
    PERMANENT_IMAGE_ERRORS,
    DarkroomError,
    InvalidImage,
    TooLarge,
    Unsupported,
)
from darkroom.imaging import Developed, Limits, colour, develop, probe, vipsload
from darkroom.imaging.formats import AVIF
from darkroom.imaging.integrity import check_container
from tests.unit.imaging_helpers import (
    corpus_bytes,
    decode,
    encode,
    fit_problems,
    flip_middle,
    gif_with_screen,
    jpeg_with_size,
    png_bomb,
    png_chunk,
    png_claiming,
    sample_image,
)

pytestmark = pytest.mark.timeout(20)

SPECS = (VariantSpec("small", 64, 64), VariantSpec("w150", 150))


@cache
def source(kind: str) -> bytes:
    """A well-formed file of each kind: from the corpus, or made with Pillow."""
    corpus = {
        "jpeg": "S01_canon_sd300_2mp.jpg",
        "progressive-jpeg": "P02_japanese_shop_12mp_prog.jpg",
        "png": "A01_alpha_paper_2048.png",
        "png16": "N01_png16_724x1024.png",
        "webp": "W02_webp_tree_1024.webp",
        "heic": "H02_iphone8_12mp.heic",
        "gif": "G02_anim_300.gif",
    }
    if kind in corpus:
        return corpus_bytes(corpus[kind])
    image = sample_image((320, 240))
    made: dict[str, Callable[[], bytes]] = {
        "avif": lambda: encode(image, "AVIF", quality=60),
        "bmp": lambda: encode(image, "BMP"),
        "tiff": lambda: encode(image, "TIFF", compression="tiff_deflate"),
    }
    return made[kind]()


PILLOW_WARNINGS = pytest.mark.parametrize(
    "pillow_warnings",
    [
        pytest.param("errors", id="warnings-are-errors"),
        pytest.param(
            "ignored",
            id="warnings-ignored",
            marks=pytest.mark.filterwarnings("ignore::UserWarning"),
        ),
    ],
)
"""Pillow warns (UserWarning) about damaged tags and EXIF. The tests make warnings errors;
a worker in production only logs them: the outcome must be one of darkroom's errors either way."""

KINDS = ("jpeg", "progressive-jpeg", "png", "png16", "webp", "heic", "gif", "avif", "bmp", "tiff")
CHECKSUMMED = {"png", "png16"}
"""Formats whose every byte of pixel data is covered by a checksum (PNG's chunk CRCs)."""


DEFAULT_LIMITS = Limits()


def refuse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> DarkroomError:
    """`develop(data)` must raise exactly one of the permanent image errors."""
    try:
        result = develop(data, SPECS, limits)
    except PERMANENT_IMAGE_ERRORS as exc:
        return exc
    except Exception as exc:  # the point of the test: nothing else may escape
        pytest.fail(f"develop raised {type(exc).__name__}: {exc}")
    pytest.fail(f"develop made variants from broken input: {_sizes(result)}")


def _sizes(result: Developed) -> list[tuple[str, int, int]]:
    return [(v.name, v.width, v.height) for v in result.variants]


def _assert_sane(result: Developed) -> None:
    for spec, rendered in zip(SPECS, result.variants, strict=True):
        source_size = (result.info.width, result.info.height)
        assert fit_problems((rendered.width, rendered.height), source_size, spec) == []
        assert decode(rendered.data).size == (rendered.width, rendered.height)


# ------------------------------------------------------------------ nothing like an image


def test_empty_bytes() -> None:
    assert isinstance(refuse(b""), InvalidImage)


@pytest.mark.parametrize("kind", ["jpeg", "png", "heic"])
def test_zero_filled(kind: str) -> None:
    assert isinstance(refuse(bytes(len(source(kind)))), Unsupported)


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes(seed: int) -> None:
    data = random.Random(seed).randbytes(50_000)
    assert isinstance(refuse(data), Unsupported)


@PILLOW_WARNINGS
@pytest.mark.parametrize("kind", KINDS)
def test_random_bytes_behind_a_real_signature(kind: str, pillow_warnings: str) -> None:
    head = source(kind)[:32]
    data = head + random.Random(kind).randbytes(20_000)
    refuse(data)


# ------------------------------------------------------------------ truncated


@PILLOW_WARNINGS
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cut", [10, 100, 0.5, 0.9, -2])
def test_truncated(kind: str, cut: float, pillow_warnings: str) -> None:
    data = source(kind)
    if kind == "jpeg" and cut == -2:  # only the end marker: some cameras leave it out
        _assert_sane(develop(data[:-2], SPECS))
        return
    length = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    error = refuse(data[:length])
    if length >= 100:
        assert isinstance(error, InvalidImage), error


@pytest.mark.parametrize("kind", KINDS)
def test_every_cut_through_the_header_is_refused_cleanly(kind: str) -> None:
    """The structure walks read headers byte by byte: a cut anywhere in the first 400 bytes
    ends in one of darkroom's errors, whatever the walk was reading."""
    data = source(kind)
    cuts = set(range(1, 400))
    if kind.endswith("jpeg"):  # and around every marker before the first scan
        header = data[: data.index(b"\xff\xda") + 2]
        marks = [at for at in range(len(header) - 1) if header[at] == 0xFF]
        cuts |= {at + step for at in marks for step in range(1, 8)}
    for length in sorted(cuts):
        try:
            probe(data[:length])
        except PERMANENT_IMAGE_ERRORS:
            pass


def test_truncated_jpeg_is_invalid_even_though_pillow_could_show_part_of_it() -> None:
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    data = source("jpeg")
    error = refuse(data[: len(data) * 3 // 4])
    assert isinstance(error, InvalidImage)
    assert "truncated" in str(error)


def test_jpeg_with_stray_bytes_before_its_end_marker_is_decoded() -> None:
    data = source("jpeg")
    _assert_sane(develop(data[:-2] + b"\x12\x34\x56" + data[-2:], SPECS))


@pytest.mark.parametrize(("number", "count"), [(2, 1), (0, 1), (1, 0), (1, 2)])
@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_with_misnumbered_profile_segments_is_decoded(
    number: int, count: int, progressive: bool
) -> None:
    """libjpeg-turbo refuses the whole file for it; browsers show the photo."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    jpeg = encode(sample_image((320, 240)), "JPEG", icc_profile=profile, progressive=progressive)
    data = bytearray(jpeg)
    at = data.index(b"ICC_PROFILE\x00") + 12
    data[at : at + 2] = bytes([number, count])
    _assert_sane(develop(bytes(data), SPECS))


def test_stray_bytes_do_not_let_a_truncated_jpeg_through() -> None:
    """Stray bytes between two scans are skipped, but past that warning the decoder would
    also fill a cut-off scan with grey: a file cut short is still refused."""
    data = source("progressive-jpeg")
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    stray = data[:second_scan] + b"\x12\x34" + data[second_scan:]
    _assert_sane(develop(stray, SPECS))
    assert isinstance(refuse(stray[: len(stray) * 3 // 4]), InvalidImage)


def test_progressive_jpeg_cut_between_two_scans_is_truncated() -> None:
    """Without its end marker, a progressive JPEG cut between scans would look complete."""
    data = source("progressive-jpeg")
    scans = [at for at in range(len(data) - 1) if data[at : at + 2] == b"\xff\xda"]
    assert len(scans) > 3
    for cut in (scans[2], len(data) - 2):
        error = refuse(data[:cut])
        assert isinstance(error, InvalidImage)
        assert "truncated" in str(error)


def test_truncated_heic_is_not_filled_with_grey() -> None:
    """libheif decodes a HEIC whose tiles are missing; darkroom must not."""
    data = source("heic")
    assert isinstance(refuse(data[: len(data) // 2]), InvalidImage)


def _tiffs_cut_anywhere() -> dict[str, bytes]:
    picture = pyvips.Image.new_from_array(np.asarray(sample_image((320, 240))))
    cmyk = picture.copy(interpretation="srgb").icc_transform("cmyk", input_profile="srgb")
    return {
        "pillow": encode(sample_image((320, 240)), "TIFF"),
        "tiled": bytes(picture.tiffsave_buffer(tile=True, tile_width=64, tile_height=64)),
        # libvips puts the pixels first and the page's fields, a CMYK profile, last
        "cmyk-alpha-with-profile": bytes(cmyk.bandjoin(255).tiffsave_buffer()),
    }


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
@pytest.mark.parametrize("kind", list(_tiffs_cut_anywhere()))
def test_tiff_cut_anywhere_is_truncated(kind: str, cut: float) -> None:
    """libtiff skips a field cut off (the colour profile) and fills a strip cut off."""
    data = _tiffs_cut_anywhere()[kind]
    _assert_sane(develop(data, SPECS))
    error = refuse(data[: int(len(data) * cut)])
    assert isinstance(error, InvalidImage)
    assert "truncated" in str(error)


def test_gif_cut_after_its_first_frame_is_invalid() -> None:
    data = source("gif")
    assert isinstance(refuse(data[: len(data) // 2]), InvalidImage)


# ------------------------------------------------------------------ corrupted


@PILLOW_WARNINGS
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("at", [0.3, 0.5, 0.7])
def test_flipped_bytes_in_the_middle(kind: str, at: float, pillow_warnings: str) -> None:
    """Damage inside the pixel data. Where the format checksums it (PNG), it is refused.
    JPEG, WebP, GIF, HEIC, AVIF, BMP and TIFF carry no checksum over their pixel data, and
    their decoders may show a damaged picture: then the variants must still be sound."""
    data = flip_middle(source(kind), 16, at)
    if kind in CHECKSUMMED:
        assert isinstance(refuse(data), InvalidImage)
        return
    try:
        result = develop(data, SPECS)
    except PERMANENT_IMAGE_ERRORS:
        return
    _assert_sane(result)


@PILLOW_WARNINGS
@pytest.mark.parametrize("kind", KINDS)
def test_flipped_bytes_in_the_header(kind: str, pillow_warnings: str) -> None:
    data = bytearray(source(kind))
    for offset in (12, 16, 20, 24, 28):
        data[offset] ^= 0xFF
    try:
        result = develop(bytes(data), SPECS)
    except PERMANENT_IMAGE_ERRORS:
        return
    except Exception as exc:
        pytest.fail(f"develop raised {type(exc).__name__}: {exc}")
    _assert_sane(result)


def _jpeg_with_damaged_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif[0x0110] = "Model X"
    exif[0x0112] = 6
    data = bytearray(encode(sample_image((60, 40)), "JPEG", exif=exif))
    ifd0 = data.index(b"Exif\x00\x00") + 6 + 8
    data[ifd0 : ifd0 + 2] = b"\x00\xc8"  # 200 entries claimed, 3 present
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_damaged_exif_does_not_cost_the_photo() -> None:
    result = develop(_jpeg_with_damaged_exif(), SPECS)
    assert (result.info.width, result.info.height) in ((60, 40), (40, 60))
    _assert_sane(result)


def test_damaged_exif_with_warnings_as_errors_is_a_permanent_error_at_worst() -> None:
    try:
        result = develop(_jpeg_with_damaged_exif(), SPECS)
    except PERMANENT_IMAGE_ERRORS:
        return
    _assert_sane(result)


def test_damaged_compressed_data_is_named_so() -> None:
    """Not Pillow's bare status code ("decoder error -2")."""
    data = bytearray(encode(sample_image((320, 240)), "TIFF", compression="tiff_deflate"))
    for at in range(200, 600):
        data[at] ^= 0x5A
    error = refuse(bytes(data))
    assert isinstance(error, InvalidImage)
    assert "its data is damaged" in str(error)
    assert "decoder error" not in str(error)


def test_png_bytes_behind_a_jpeg_signature() -> None:
    data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + source("png")[11:]
    assert isinstance(refuse(data), InvalidImage)


def test_jpeg_bytes_behind_a_png_signature() -> None:
    data = b"\x89PNG\r\n\x1a\n" + source("jpeg")[8:]
    assert isinstance(refuse(data), InvalidImage)


def test_webp_bytes_behind_a_gif_signature() -> None:
    data = b"GIF89a" + source("webp")[6:]
    assert isinstance(refuse(data), InvalidImage)


def test_png_with_a_bad_idat_checksum() -> None:
    data = bytearray(source("png16"))
    idat = data.index(b"IDAT")
    data[idat + 100] ^= 0x01  # one bit, inside the first IDAT chunk's data
    error = refuse(bytes(data))
    assert isinstance(error, InvalidImage)
    assert "checksum" in str(error)


# ------------------------------------------------------------------ too large


def test_png_header_claiming_50000_square() -> None:
    assert isinstance(refuse(png_claiming(50_000, 50_000)), TooLarge)


def test_png_header_claiming_a_side_over_the_limit() -> None:
    assert isinstance(refuse(png_claiming(70_000, 1)), TooLarge)


def test_jpeg_sof_claiming_50000_square() -> None:
    data = jpeg_with_size(source("jpeg"), 50_000, 50_000)
    assert isinstance(refuse(data), TooLarge)


def test_gif_screen_claiming_50000_square() -> None:
    data = gif_with_screen(source("gif"), 50_000, 50_000)
    assert isinstance(refuse(data), TooLarge)


def test_png_decompression_bomb() -> None:
    bomb = png_bomb(30_000)
    assert len(bomb) < 1_000_000
    error = refuse(bomb)
    assert isinstance(error, TooLarge)
    assert "30000×30000" in str(error)
    with pytest.raises(TooLarge):
        probe(bomb)


def _header_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_crafted_headers_are_well_formed() -> None:
    """The crafted files are refused for their size, not for being malformed: Pillow reads
    each header and reports the claimed size."""
    big = (50_000, 50_000)
    assert _header_size(png_claiming(*big)) == big
    assert _header_size(png_bomb(30_000)) == (30_000, 30_000)
    assert _header_size(jpeg_with_size(source("jpeg"), *big)) == big
    assert _header_size(gif_with_screen(source("gif"), *big)) == big


# ------------------------------------------------------------------ limits, before decode


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decode fails the test: the limits must be checked from the header."""

    def forbidden(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded before the limits were checked")

    for decoder in (
        ImageFile.ImageFile,
        WebPImagePlugin.WebPImageFile,
        AvifImagePlugin.AvifImageFile,
        TiffImagePlugin.TiffImageFile,
        heif_plugin.HeifImageFile,
    ):
        monkeypatch.setattr(decoder, "load", forbidden)


def test_max_pixels() -> None:
    data = source("jpeg")  # 1600×1200
    assert isinstance(refuse(data, Limits(max_pixels=1600 * 1200 - 1)), TooLarge)
    assert len(develop(data, SPECS, Limits(max_pixels=1600 * 1200)).variants) == len(SPECS)


def test_max_bytes() -> None:
    data = source("jpeg")
    assert isinstance(refuse(data, Limits(max_bytes=len(data) - 1)), TooLarge)
    assert len(develop(data, SPECS, Limits(max_bytes=len(data))).variants) == len(SPECS)


def test_max_bytes_comes_before_anything_else() -> None:
    garbage = random.Random(7).randbytes(5000)
    assert isinstance(refuse(garbage, Limits(max_bytes=4999)), TooLarge)


def test_max_frames() -> None:
    data = source("gif")  # 11 frames
    assert isinstance(refuse(data, Limits(max_frames=10)), TooLarge)
    assert develop(data, SPECS, Limits(max_frames=11)).info.frames == 11


def test_max_side() -> None:
    data = source("jpeg")
    assert isinstance(refuse(data, Limits(max_side=1599)), TooLarge)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize(
    ("kind", "limits"),
    [
        ("jpeg", Limits(max_pixels=1000)),
        ("png", Limits(max_pixels=1000)),
        ("webp", Limits(max_pixels=1000)),
        ("heic", Limits(max_pixels=1000)),
        ("avif", Limits(max_pixels=1000)),
        ("gif", Limits(max_frames=2)),
        ("jpeg", Limits(max_bytes=1000)),
        ("tiff", Limits(max_side=100)),
    ],
)
def test_limits_are_checked_before_decoding(kind: str, limits: Limits) -> None:
    assert isinstance(refuse(source(kind), limits), TooLarge)


def _claiming(avif: bytes, width: int, height: int) -> bytes:
    """`avif` with every `ispe` property changed to say `width`×`height`."""
    data = bytearray(avif)
    at = data.find(b"ispe")
    while at >= 0:
        struct.pack_into(">II", data, at + 8, width, height)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_avif_claiming_more_pixels_than_its_picture_holds(mode: str) -> None:
    """libavif would enlarge the 320×240 picture to what `ispe` says: 100 MP, within the
    limit, in two seconds and 900 MB."""
    avif = encode(sample_image((320, 240), mode), "AVIF", quality=60)
    error = refuse(_claiming(avif, 10_000, 10_000))
    assert isinstance(error, InvalidImage)
    assert "10000×10000" in str(error) and "320×240" in str(error)


def _bits(*fields: tuple[int, int]) -> str:
    return "".join(format(value, f"0{size}b") for value, size in fields)


def _full_sequence_header(width: int, height: int) -> bytes:
    """A sequence header OBU in its long form (the encoder writes the reduced one for a still
    picture): timing and decoder model information, two operating points."""
    uvlc_5 = "00110"  # num_ticks_per_picture_minus_1 = 5
    timing = _bits((1, 1), (1001, 32), (30000, 32), (1, 1)) + uvlc_5
    decoder_model = _bits((1, 1), (9, 5), (90, 32), (4, 5), (4, 5))  # 10-bit buffer delays
    operating_point = _bits((0x103, 12), (8, 5), (1, 1), (1, 1), (500, 10), (700, 10), (0, 1))
    operating_point += _bits((1, 1), (3, 4))  # initial_display_delay_minus_1
    sizes = _bits((15, 4), (15, 4), (width - 1, 16), (height - 1, 16))
    bits = _bits((0, 3), (0, 1), (0, 1)) + timing + decoder_model + _bits((1, 1), (1, 5))
    bits += operating_point * 2 + sizes
    bits += "0" * (-len(bits) % 8)
    payload = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return bytes([0x0A, len(payload)]) + payload


def _with_full_sequence_header(avif: bytes, width: int, height: int) -> bytes:
    """`avif` with its reduced sequence header swapped for the long form, which the check
    reads and no decoder will (the mdat box grows to hold it)."""
    reduced = avif.index(b"\x12\x00\x0a") + 2
    end = reduced + 2 + avif[reduced + 1]
    full = _full_sequence_header(width, height)
    mdat = avif.index(b"mdat") - 4
    (length,) = struct.unpack_from(">I", avif, mdat)
    grown = struct.pack(">I", length + len(full) - (end - reduced))
    return avif[:mdat] + grown + avif[mdat + 4 : reduced] + full + avif[end:]


@pytest.mark.parametrize(("claimed", "refused"), [((320, 240), False), ((321, 240), True)])
def test_avif_size_checked_against_a_long_sequence_header(
    claimed: tuple[int, int], refused: bool
) -> None:
    avif = encode(sample_image((320, 240)), "AVIF", quality=60)
    data = _claiming(_with_full_sequence_header(avif, 320, 240), *claimed)
    if refused:
        with pytest.raises(InvalidImage, match="320×240"):
            check_container(data, AVIF, 1)
    else:
        check_container(data, AVIF, 1)


# ------------------------------------------------------------------ work bombs
# Small files whose structure, not their pixel count, would keep a decoder busy for minutes.


def _with_repeated_last_scan(jpeg: bytes, times: int) -> bytes:
    last = jpeg.rindex(b"\xff\xda")
    return jpeg[:last] + jpeg[last:-2] * times + b"\xff\xd9"


@pytest.mark.usefixtures("no_decoding")
def test_progressive_jpeg_with_thousands_of_scans() -> None:
    progressive = encode(sample_image((64, 48)), "JPEG", progressive=True)
    error = refuse(_with_repeated_last_scan(progressive, 1000))
    assert isinstance(error, TooLarge)
    assert "scans" in str(error)


def test_what_follows_a_progressive_jpeg_is_not_counted_as_its_scans() -> None:
    """A motion photo carries its video after the picture's end marker."""
    progressive = encode(sample_image((64, 48)), "JPEG", progressive=True)
    video = (b"\xff\xda" + random.Random(3).randbytes(100)) * 1000
    _assert_sane(develop(progressive + video, SPECS))


def _lossless_jpeg(width: int, height: int) -> bytes:
    """A flat 8-bit grey lossless JPEG (SOF3), with a camera named in its EXIF."""

    def segment(marker: int, body: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body

    exif = Image.Exif()
    exif[0x010F] = "Canon"
    return (
        b"\xff\xd8"
        + segment(0xE1, b"Exif\x00\x00" + exif.tobytes())
        + segment(0xC3, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
        + segment(0xC4, bytes([0, 1, 0, 0, 0, 8] + [0] * 11) + bytes(range(9)))
        + segment(0xDA, bytes([1, 1, 0, 1, 0, 0]))
        + bytes(-(-width * height // 8))
        + b"\xff\xd9"
    )


@pytest.mark.usefixtures("no_decoding")
def test_lossless_jpeg_is_refused_before_decoding() -> None:
    """libjpeg-turbo cannot scale it: a scaled decode would overflow its buffer."""
    error = refuse(_lossless_jpeg(2000, 1500))
    assert isinstance(error, Unsupported)
    assert "lossless" in str(error)


@pytest.mark.usefixtures("no_decoding")
def test_a_12_bit_jpeg_is_refused_as_unsupported() -> None:
    data = bytearray(source("jpeg"))
    (exif_length,) = struct.unpack(">H", data[4:6])  # APP1, with a thumbnail of its own
    frame = data.index(b"\xff\xc0", 4 + exif_length)
    data[frame + 4] = 12  # sample precision
    error = refuse(bytes(data))
    assert isinstance(error, Unsupported)
    assert "12-bit" in str(error)


def _with_empty_comments(jpeg: bytes, count: int) -> bytes:
    return jpeg[:2] + b"\xff\xfe\x00\x02" * count + jpeg[2:]


@pytest.mark.usefixtures("no_decoding")
def test_jpeg_with_thousands_of_header_segments() -> None:
    error = refuse(_with_empty_comments(source("jpeg"), 5000))
    assert isinstance(error, TooLarge)
    assert "segments" in str(error)
    with pytest.raises(TooLarge):
        probe(_with_empty_comments(source("jpeg"), 5000))


def test_jpeg_with_hundreds_of_header_segments_is_decoded() -> None:
    _assert_sane(develop(_with_empty_comments(source("jpeg"), 500), SPECS))


def _png_with_private_chunks(count: int) -> bytes:
    png = encode(sample_image((64, 48)), "PNG")
    after_ihdr = 8 + 25
    return png[:after_ihdr] + png_chunk(b"daRk", b"") * count + png[after_ihdr:]


@pytest.mark.usefixtures("no_decoding")
def test_png_with_thousands_of_chunks_before_its_pixels() -> None:
    error = refuse(_png_with_private_chunks(5000))
    assert isinstance(error, TooLarge)
    assert "chunks" in str(error)


def test_png_with_a_hundred_private_chunks_is_decoded() -> None:
    _assert_sane(develop(_png_with_private_chunks(100), SPECS))


def test_png_with_a_metadata_chunk_that_inflates_past_a_megabyte() -> None:
    png = encode(sample_image((64, 48)), "PNG")
    ztxt = png_chunk(b"zTXt", b"note\x00\x00" + zlib.compress(b" " * (2 << 20), 9))
    error = refuse(png[:33] + ztxt + png[33:])
    assert isinstance(error, TooLarge)
    assert "inflates" in str(error)


@pytest.mark.usefixtures("no_decoding")
def test_gif_split_into_hundreds_of_thousands_of_blocks() -> None:
    gif = source("gif")
    empty_comments = b"\x21\xfe\x00" * 300_000
    error = refuse(gif[:-1] + empty_comments + gif[-1:])
    assert isinstance(error, TooLarge)
    assert "blocks" in str(error)


def _tiff_pages(count: int) -> bytes:
    pages = [Image.new("L", (2, 2), shade % 256) for shade in range(count)]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


@pytest.mark.usefixtures("no_decoding")
def test_tiff_pages_are_counted_before_pillow_counts_them() -> None:
    error = refuse(_tiff_pages(1001))
    assert isinstance(error, TooLarge)
    assert "pages" in str(error)


def test_tiff_pages_within_the_limit() -> None:
    assert develop(_tiff_pages(30), SPECS, Limits(max_frames=30)).info.frames == 30
    assert isinstance(refuse(_tiff_pages(30), Limits(max_frames=29)), TooLarge)


def _bigtiff_page(fields: list[bytes]) -> bytes:
    """A BigTIFF whose first (and only) page has `fields`, each 20 bytes."""
    return (
        b"II+\x00"
        + struct.pack("<HHQ", 8, 0, 16)
        + struct.pack("<Q", len(fields))
        + (b"".join(fields) + bytes(8))
    )


@pytest.mark.usefixtures("no_decoding")
def test_tiff_page_with_millions_of_fields() -> None:
    """A page has each tag once at most; 4 million fields took 4 s just to be walked."""
    error = refuse(_bigtiff_page([struct.pack("<HHQQ", 305, 2, 1, 0)] * 70_000))
    assert isinstance(error, InvalidImage)
    assert "fields" in str(error)


@pytest.mark.usefixtures("no_decoding")
def test_tiff_page_in_millions_of_strips() -> None:
    """24 million strip offsets sharing one block of a 48 MB file took 16 s and 3.7 GB."""
    offsets = struct.pack("<HHQQ", 273, 3, 2_000_000, 0)  # SHORT values from offset 0
    counts = struct.pack("<HHQQ", 279, 3, 2_000_000, 0)
    data = _bigtiff_page([offsets, counts])
    error = refuse(data + bytes(4_000_000 - len(data)))
    assert isinstance(error, TooLarge)
    assert "pieces" in str(error)


def test_tiff_strip_offset_near_the_end_of_64_bit_numbers_is_truncated() -> None:
    """Offset plus length would wrap around to a place inside the file."""
    offsets = struct.pack("<HHQQ", 273, 16, 1, 2**64 - 8)  # one LONG8, held in the field
    counts = struct.pack("<HHQQ", 279, 16, 1, 100)
    error = refuse(_bigtiff_page([offsets, counts]) + bytes(1000))
    assert isinstance(error, InvalidImage)
    assert "truncated" in str(error)


@pytest.mark.usefixtures("no_decoding")
@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_heif_with_thousands_of_top_level_boxes(kind: str) -> None:
    """Walked one by one in Python: 6.5 million empty ones in 50 MB took 3 to 10 s."""
    error = refuse(source(kind) + struct.pack(">I4s", 8, b"free") * 2000)
    assert isinstance(error, TooLarge)
    assert "boxes" in str(error)


@pytest.mark.usefixtures("no_decoding")
def test_run_length_encoded_bmp_over_8_mb() -> None:
    """Pillow decodes RLE bitmaps in Python: 48 MB of runs take it seconds."""
    bmp = bytearray(encode(sample_image((64, 48)).convert("P"), "BMP"))
    bmp[30:34] = struct.pack("<I", 1)  # BI_RLE8
    error = refuse(bytes(bmp) + b"\x00\x00" * (4 << 20) + b"\x00\x01")
    assert isinstance(error, TooLarge)
    assert "run-length" in str(error)


def test_libvips_running_out_of_memory_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(data: bytes, scale: float = 1.0) -> None:
        raise pyvips.Error("unable to call VipsForeignLoadPngBuffer", "vips_tracked: out of memory")

    monkeypatch.setattr(vipsload, "load", out_of_memory)
    error = refuse(source("png"))
    assert isinstance(error, TooLarge)
    assert "memory" in str(error)


def _profile_with_a_float_pipeline(steps: int) -> bytes:
    """A v4 RGB display profile whose D2B0 tag is a float pipeline (`mpet`) of `steps`
    matrices, all sharing one body."""
    matrix = b"matf\x00\x00\x00\x00" + struct.pack(">HH12f", 3, 3, *[0.9, 0, 0] * 3, 0, 0, 0)
    pipeline = (
        b"mpet\x00\x00\x00\x00"
        + struct.pack(">HHI", 3, 3, steps)
        + struct.pack(">II", 16 + 8 * steps, len(matrix)) * steps
        + matrix
    )
    start = 128 + 4 + 12
    header = (
        struct.pack(">I4sI", start + len(pipeline), b"lcms", 0x04400000)
        + b"mntrRGB XYZ "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 28
        + struct.pack(">3i", 63190, 65536, 54061)  # D50
        + b"\x00" * 48
    )
    return header + struct.pack(">I4sII", 1, b"D2B0", start, len(pipeline)) + pipeline


def test_a_profile_with_thousands_of_steps_is_not_built() -> None:
    """LittleCMS would run every step for every point of its table: 100 000 steps (800 KB)
    took it 86 s. The photo is shown as it is stored, as with any broken profile."""
    profile = _profile_with_a_float_pipeline(1000)
    assert colour._too_many_steps(profile)
    assert not colour._too_many_steps(_profile_with_a_float_pipeline(3))
    data = encode(sample_image((64, 48)), "JPEG", icc_profile=profile)
    (rendered,) = develop(data, [VariantSpec("v", 32, format="png")]).variants
    assert (rendered.width, rendered.height) == (32, 24)


def test_pixel_limit_wins_over_a_truncated_body() -> None:
    """Only the header is needed to refuse: a cut-off body does not matter."""
    data = source("jpeg")
    assert isinstance(refuse(data[: len(data) // 2], Limits(max_pixels=1000)), TooLarge)


def test_huge_broken_profiles_are_shown_as_they_are_and_not_kept() -> None:
    """The colour transforms kept for the next photo are bounded, and keyed by digest: the
    profile is the upload's to choose, up to megabytes each."""
    for seed in range(20):
        junk = random.Random(seed).randbytes(1 << 20)
        data = encode(sample_image((64, 48)), "JPEG", icc_profile=junk)
        (rendered,) = develop(data, [VariantSpec("v", 32, format="png")]).variants
        assert (rendered.width, rendered.height) == (32, 24)
    assert 0 < len(colour._TRANSFORMS) <= colour._KEPT_TRANSFORMS
    assert all(len(digest) == 32 for digest, _ in colour._TRANSFORMS)
