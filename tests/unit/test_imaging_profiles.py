"""Embedded colour profiles: judged by what they do to colours, whatever they are called,
and grey images converted through their grey profiles."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import pyvips
from PIL import Image, ImageCms

from darkroom.domain import OutputFormat, VariantSpec
from darkroom.imaging import develop
from tests.unit.imaging_helpers import develop_apart, png_chunk

_SPEC = (VariantSpec("w320", width=320),)
_COLOURS = [(200, 100, 50), (30, 160, 220), (128, 128, 128), (64, 64, 64), (230, 230, 200)]
_SRGB = ImageCms.createProfile("sRGB")


def _fixed(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _profile(space: bytes, description: str, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A version 2 display profile of `space` (b"RGB " or b"GRAY") with a D50 white."""
    text = description.encode() + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(12 + 67)
    white = b"XYZ \0\0\0\0" + _fixed(0.9642) + _fixed(1.0) + _fixed(0.8249)
    tags = [(b"desc", desc), (b"wtpt", white), (b"cprt", b"text\0\0\0\0none\0"), *tags]
    start = 128 + 4 + 12 * len(tags)
    table = body = b""
    for signature, data in tags:
        table += signature + struct.pack(">II", start + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = struct.pack(">I4sI4s4s", start + len(body), b"lcms", 0x02100000, b"mntr", space)
    header += b"XYZ " + bytes(12) + b"acsp" + bytes(24) + bytes(4)
    header += _fixed(0.9642) + _fixed(1.0) + _fixed(0.8249) + bytes(48)
    return header + struct.pack(">I", len(tags)) + table + body


def _gamma(value: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(value * 256))


def _rgb_profile(description: str, gamma: float) -> bytes:
    """sRGB's primaries (adapted to D50) with a pure power curve."""
    colorants = [(0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)]
    tags = [
        (name, b"XYZ \0\0\0\0" + b"".join(_fixed(v) for v in xyz))
        for name, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)
    ]
    tags += [(name, _gamma(gamma)) for name in (b"rTRC", b"gTRC", b"bTRC")]
    return _profile(b"RGB ", description, tags)


def _patches(mode: str) -> Image.Image:
    pixels = np.zeros((32, 32 * len(_COLOURS), 3), np.uint8)
    for index, colour in enumerate(_COLOURS):
        pixels[:, 32 * index : 32 * (index + 1)] = colour
    image = Image.fromarray(pixels)
    return image.convert("L") if mode == "L" else image


def _saved(image: Image.Image, fmt: str, profile: bytes, **params: object) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, fmt, quality=100, subsampling=0, icc_profile=profile)
    else:
        image.save(out, fmt, icc_profile=profile, **params)
    return out.getvalue()


def _centres(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return np.array([rgb[16, 32 * index + 16] for index in range(len(_COLOURS))])


def _rendered(data: bytes) -> Image.Image:
    (variant,) = develop(data, _SPEC).variants
    return Image.open(io.BytesIO(variant.data))


def _through(image: Image.Image, profile: bytes) -> Image.Image:
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    assert converted is not None
    return converted


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("name", ["GIMP built-in Linear sRGB", "sRGB-elle-V2-g10.icc"])
def test_a_linear_profile_named_srgb_is_converted(fmt: str, name: str) -> None:
    """Linear-light profiles GIMP and Krita embed say "sRGB" in their names: left
    unconverted, their mid grey (188 in sRGB) came out as 128."""
    profile = _rgb_profile(name, 1.0)
    image = _patches("RGB")
    got = _centres(_rendered(_saved(image, fmt, profile)))
    expected = _centres(_through(image, profile))
    assert expected[2][0] > 180  # the reference: linear 128 is a light grey in sRGB
    assert np.abs(got - expected).max() <= 3, (got.tolist(), expected.tolist())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_an_srgb_profile_leaves_the_colours_as_they_are(fmt: str) -> None:
    srgb = ImageCms.ImageCmsProfile(_SRGB).tobytes()
    image = _patches("RGB")
    got = _centres(_rendered(_saved(image, fmt, srgb)))
    assert np.abs(got - _centres(image)).max() <= 3


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("gamma", [1.0, 1.8])
def test_a_grey_image_is_converted_through_its_grey_profile(fmt: str, gamma: float) -> None:
    """A grey image's profile was never applied: a Gray Gamma 1.8 image's mid grey came out
    18 levels too dark, a linear one's 60."""
    profile = _profile(b"GRAY", f"Gray Gamma {gamma}", [(b"kTRC", _gamma(gamma))])
    image = _patches("L")
    rendered = _rendered(_saved(image, fmt, profile))
    assert rendered.mode == "L"
    got = _centres(rendered)
    expected = _centres(_through(image, profile))
    assert np.abs(got - expected).max() <= 3, (got.tolist(), expected.tolist())


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("layout", ["LA", "opaque LA", "tRNS", "16-bit LA", "TIFF LA"])
def test_a_grey_image_with_alpha_is_converted_through_its_grey_profile(
    layout: str, fmt: OutputFormat
) -> None:
    """A grey image with an alpha channel (or a transparent grey) is decoded as RGB(A),
    which its grey profile cannot convert: Gray Gamma 1.8's mid grey came out 18 levels
    too dark, as if it had no profile."""
    profile = _profile(b"GRAY", "Gray Gamma 1.8", [(b"kTRC", _gamma(1.8))])
    grey = _patches("L")
    alpha = np.full((grey.height, grey.width), 255, np.uint8)
    if layout != "opaque LA":
        alpha[:4] = 0  # transparent rows, away from the patches' centres
    levels = np.asarray(grey)
    if layout == "tRNS":  # the one level it makes transparent, only where the alpha says
        levels = np.where(alpha == 0, 1, levels).astype(np.uint8)
        data = _saved(Image.fromarray(levels), "PNG", profile, transparency=1)
    elif layout == "16-bit LA":
        planes = np.dstack([levels, alpha]).astype(np.uint16) * 257
        image = pyvips.Image.new_from_array(planes).cast("ushort").copy(interpretation="grey16")
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
        data = image.pngsave_buffer(bitdepth=16)
    else:
        image = Image.fromarray(np.dstack([levels, alpha]), "LA")
        data = _saved(image, "TIFF" if layout == "TIFF LA" else "PNG", profile)
    (variant,) = develop(data, [VariantSpec("w320", width=320, format=fmt)]).variants
    got = _centres(Image.open(io.BytesIO(variant.data)))
    expected = _centres(_through(grey, profile))
    assert np.abs(got - expected).max() <= 3, (got.tolist(), expected.tolist())


@pytest.mark.parametrize(
    ("mode", "profile"),
    [
        ("RGB", _profile(b"GRAY", "Gray Gamma 1.8", [(b"kTRC", _gamma(1.8))])),
        ("L", _rgb_profile("Linear RGB", 1.0)),
    ],
)
def test_a_profile_of_another_colour_space_is_ignored(mode: str, profile: bytes) -> None:
    image = _patches(mode)
    got = _centres(_rendered(_saved(image, "PNG", profile)))
    assert np.abs(got - _centres(image)).max() <= 3


def _lookup_profile(grid: int) -> bytes:
    """An RGB profile whose colours go through a lookup table of grid³ entries, each a dark
    grey (black in sRGB): 6 × grid³ bytes."""
    identity = struct.pack(">HH", 0, 65535)  # two-entry curves, in and out
    matrix = b"".join(_fixed(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    table = np.full(grid**3 * 3, 0.1 * 32768, ">u2").tobytes()
    lut = b"mft2\0\0\0\0" + bytes((3, 3, grid, 0)) + matrix + struct.pack(">HH", 2, 2)
    return _profile(b"RGB ", "lookup", [(b"A2B0", lut + identity * 3 + table + identity * 3)])


def test_a_profile_over_4_mb_is_ignored_as_firefox_ignores_it() -> None:
    """LittleCMS took 150 MB more to read a 41 MB profile (a 190³ table) than the same
    photo needed without it."""
    image = _patches("RGB")
    small, large = _lookup_profile(60), _lookup_profile(190)
    assert len(small) < 4 * 1024 * 1024 < len(large)
    assert _centres(_rendered(_saved(image, "TIFF", small))).max() <= 40  # the table's grey
    assert np.abs(_centres(_rendered(_saved(image, "TIFF", large))) - _centres(image)).max() <= 3


def test_a_large_profile_costs_no_more_than_its_bytes() -> None:
    """A 64×64 TIFF that carries a 41 MB profile: 373 MB at its peak when LittleCMS read the
    profile, 212 MB with the profile ignored (the file held by Pillow and libvips)."""
    developing = develop_apart(_saved(_patches("RGB"), "TIFF", _lookup_profile(190)))
    assert developing.outcome == "ready"
    assert developing.peak_mb < 300


def _display_p3() -> bytes:
    return bytes(pyvips.Operation.call("profile_load", "p3"))


_EVERY_OUTPUT = [
    VariantSpec("w160", width=160, format="png"),
    VariantSpec("w40", width=40, format="png"),
    VariantSpec("w160.jpg", width=160, format="jpeg", quality=100),
]


def _heic_described_as_p3(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(
        out,
        "HEIF",
        quality=-1,
        color_primaries=12,
        transfer_characteristics=13,
        matrix_coefficients=6,
        full_range_flag=1,
    )
    return out.getvalue()


def _avif_described_as_p3(image: Image.Image) -> bytes:
    """Pillow writes an AVIF's colours as BT.709 (sRGB) primaries, in an `nclx` colour box:
    the same coded picture, said to be in Display P3's primaries (12)."""
    out = io.BytesIO()
    image.save(out, "AVIF", quality=100)
    srgb = b"colrnclx\x00\x01\x00\x0d"
    assert out.getvalue().count(srgb) == 1
    return out.getvalue().replace(srgb, b"colrnclx\x00\x0c\x00\x0d")


@pytest.mark.parametrize("fmt", ["HEIC", "AVIF"])
def test_colours_described_as_display_p3_without_a_profile_are_converted(fmt: str) -> None:
    """HEIC and AVIF files may say their colours' primaries by number (an `nclx` colour
    box, as Android phones and AVIF encoders write it) rather than in an ICC profile, and
    browsers convert Display P3 ones as they convert a Display P3 profile: they were left
    as they were, dull (P3's red 200 is sRGB's 215)."""
    image = _patches("RGB")
    data = (_heic_described_as_p3 if fmt == "HEIC" else _avif_described_as_p3)(image)
    expected = _centres(_through(image, _display_p3()))
    assert np.abs(expected - _centres(image)).max() >= 30
    for variant in develop(data, _EVERY_OUTPUT).variants:
        got = _centres(Image.open(io.BytesIO(variant.data)).resize(image.size))
        assert np.abs(got - expected).max() <= 12, (variant.name, got.tolist())


def test_a_cmyk_tiff_with_alpha_is_converted_as_one_without() -> None:
    """Pillow reads no CMYK TIFF with alpha, and libvips converted it through its profile
    with another rendering intent (relative) than every other CMYK image gets (perceptual,
    as Pillow's ImageCms and browsers convert): its colours came out up to 17 levels
    lighter than the same picture's without alpha."""
    profile = bytes(pyvips.Operation.call("profile_load", "cmyk"))
    inks = 255 - np.asarray(_patches("RGB"))
    cmyk = np.dstack([inks, np.full(inks.shape[:2], 40, np.uint8)])
    without = _saved(Image.fromarray(cmyk, "CMYK"), "TIFF", profile)
    layers = pyvips.Image.new_from_array(np.dstack([cmyk, np.full(inks.shape[:2], 255, np.uint8)]))
    tiff = layers.cast("uchar").copy(interpretation="cmyk")
    tiff.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    expected = _centres(_rendered(without))
    assert np.abs(expected - _centres(_through(Image.fromarray(cmyk, "CMYK"), profile))).max() <= 3
    got = _centres(_rendered(tiff.tiffsave_buffer()))
    assert np.abs(got - expected).max() <= 3, (got.tolist(), expected.tolist())


def _png_described_as_p3(image: Image.Image, interlaced: bool) -> bytes:
    """A PNG with a cICP chunk after its header: Display P3's primaries (12), sRGB's curve
    (13), RGB (0), full range (1)."""
    if interlaced:  # 16 bits a sample and interlaced: decoded by Pillow, not libvips
        planes = np.asarray(image).astype(np.uint16) * 257
        vips = pyvips.Image.new_from_array(planes).cast("ushort").copy(interpretation="rgb16")
        data = bytes(vips.pngsave_buffer(bitdepth=16, interlace=True))
    else:
        data = _saved(image, "PNG", ImageCms.ImageCmsProfile(_SRGB).tobytes())
    header = 8 + 25
    return data[:header] + png_chunk(b"cICP", bytes((12, 13, 0, 1))) + data[header:]


@pytest.mark.parametrize("interlaced", [False, True])
def test_a_png_whose_cicp_chunk_says_display_p3_is_converted(interlaced: bool) -> None:
    """PNG's third edition describes colours by code points in a cICP chunk, which comes
    before any ICC profile, and browsers convert by it: Display P3's colours were shown as
    if they were sRGB's (the chunk unread), dull."""
    image = _patches("RGB")
    expected = _centres(_through(image, _display_p3()))
    for variant in develop(_png_described_as_p3(image, interlaced), _EVERY_OUTPUT).variants:
        got = _centres(Image.open(io.BytesIO(variant.data)).resize(image.size))
        assert np.abs(got - expected).max() <= 4, (variant.name, got.tolist())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_a_profile_that_claims_more_bytes_than_it_has_is_ignored_as_chrome_ignores_it(
    fmt: str,
) -> None:
    """A profile cut short (its header's size beyond its bytes) is refused by Chrome's
    colour management (skcms) and by libpng, so a PNG's was ignored; LittleCMS reads what
    there is of it, and a JPEG's, TIFF's or WebP's was applied."""
    profile = bytearray(_display_p3())
    struct.pack_into(">I", profile, 0, len(profile) + 1000)
    image = _patches("RGB")
    params = {"lossless": True} if fmt == "WEBP" else {}
    got = _centres(_rendered(_saved(image, fmt, bytes(profile), **params)))
    assert np.abs(got - _centres(image)).max() <= 3, got.tolist()


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_an_rgb_profile_on_a_grey_tiff_is_ignored_with_or_without_alpha(mode: str) -> None:
    """A grey image with alpha is decoded as RGBA, which an RGB profile converts: a grey
    TIFF's linear RGB profile was ignored, and that of the same TIFF with alpha applied
    (its mid grey 188, not 128)."""
    grey = np.asarray(_patches("L"))
    layers = grey if mode == "L" else np.dstack([grey, np.full(grey.shape, 255, np.uint8)])
    data = _saved(Image.fromarray(layers, mode), "TIFF", _rgb_profile("Linear RGB", 1.0))
    got = _centres(_rendered(data))
    assert np.abs(got - _centres(_patches("L"))).max() <= 3, got.tolist()
