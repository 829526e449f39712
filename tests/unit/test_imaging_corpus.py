"""The imaging engine on every real photo of the shared corpus: sizes, formats, colour,
orientation, metadata, and quality against Pillow LANCZOS from the full image."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pillow_heif
import pytest
import pyvips
from PIL import Image, ImageOps, ImageSequence, PngImagePlugin, UnidentifiedImageError

from darkroom.domain import DEFAULT_VARIANTS, OutputFormat, VariantSpec
from darkroom.errors import Unsupported
from darkroom.imaging import Rendered, develop, engine, jpeg, probe, resample
from darkroom.imaging.resample import Pixels
from tests.corpus import CORPUS, corpus_files
from tests.unit.imaging_helpers import (
    CASE_BY_NAME,
    CASES,
    CorpusCase,
    corpus_bytes,
    decode,
    developed,
    encode,
    fit_problems,
    luma,
    mean_abs_diff,
    pixels,
    reference_image,
    roundtrip,
    sample_image,
    ssim,
)

IDS = [case.name.split("_")[0] for case in CASES]
SSIM_FLOOR = -0.002
"""Worst SSIM change allowed against Pillow LANCZOS from the full image (both through q85)."""


def _variant(name: str, variant: str) -> Image.Image:
    rendered = next(v for v in developed(name).variants if v.name == variant)
    return decode(rendered.data)


def test_every_corpus_image_is_known() -> None:
    assert CORPUS.is_dir(), f"no test corpus at {CORPUS}; set DARKROOM_CORPUS"
    assert sorted(p.name for p in corpus_files()) == sorted(CASE_BY_NAME)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_develop_reads_the_image_info(case: CorpusCase) -> None:
    info = developed(case.name).info
    assert info.format.name == case.format
    assert (info.width, info.height) == (case.width, case.height)
    assert info.frames == case.frames
    assert info.has_alpha is case.alpha


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_probe_agrees_with_develop(case: CorpusCase) -> None:
    info = probe(corpus_bytes(case.name))
    assert info.format.name == case.format
    assert (info.width, info.height, info.frames) == (case.width, case.height, case.frames)
    assert not any("gps" in key for key in info.metadata)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_default_variant_fits_and_decodes(case: CorpusCase) -> None:
    variants = developed(case.name).variants
    assert [v.name for v in variants] == [spec.name for spec in DEFAULT_VARIANTS]
    for spec, rendered in zip(DEFAULT_VARIANTS, variants, strict=True):
        size = (rendered.width, rendered.height)
        assert fit_problems(size, (case.width, case.height), spec) == [], spec.name
        image = decode(rendered.data)
        assert image.size == size, spec.name
        if case.alpha:
            assert (rendered.content_type, rendered.extension) == ("image/webp", "webp")
            assert image.format == "WEBP"
            assert image.mode == "RGBA"
            low, _ = image.getchannel("A").getextrema()
            assert isinstance(low, int | float)
            assert low < 255, f"{spec.name}: the transparency is gone"
        else:
            assert (rendered.content_type, rendered.extension) == ("image/jpeg", "jpg")
            assert image.format == "JPEG"
            assert image.mode == "RGB", f"{spec.name}: {image.mode}, not 8-bit sRGB"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_variants_carry_no_metadata(case: CorpusCase) -> None:
    for rendered in developed(case.name).variants:
        image = decode(rendered.data)
        assert not image.getexif(), f"{rendered.name} carries EXIF"
        leaked = {"exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile"} & set(image.info)
        assert not leaked, f"{rendered.name} carries {leaked}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_metadata_summary_names_the_camera_and_never_locates(case: CorpusCase) -> None:
    metadata = developed(case.name).info.metadata
    assert metadata.get("camera_make") == case.make
    assert metadata.get("camera_model") == case.model
    assert not any("gps" in key for key in metadata)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gps_only_when_asked_for(case: CorpusCase) -> None:
    metadata = develop(corpus_bytes(case.name), specs=(), include_gps=True).info.metadata
    if case.gps is None:
        assert not any("gps" in key for key in metadata)
    else:
        latitude, longitude = case.gps
        assert metadata["gps_latitude"] == pytest.approx(latitude, abs=1e-3)
        assert metadata["gps_longitude"] == pytest.approx(longitude, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "variant", "size"),
    [
        ("N01_png16_724x1024.png", "w1024", (724, 1024)),  # narrower than the box: not upscaled
        ("N01_png16_724x1024.png", "thumb", (71, 100)),
        ("N01_png16_724x1024.png", "display", (424, 600)),
        ("G02_anim_300.gif", "thumb", (100, 100)),
        ("G02_anim_300.gif", "w150", (150, 150)),
        ("G02_anim_300.gif", "w320", (300, 300)),
        ("G02_anim_300.gif", "w640", (300, 300)),
        ("G02_anim_300.gif", "w1024", (300, 300)),
        ("O02_canon_1000d_10mp_o6.jpg", "w1024", (1024, 1536)),  # orientation 6: portrait
        ("O02_canon_1000d_10mp_o6.jpg", "display", (400, 600)),
        ("O02_canon_1000d_10mp_o6.jpg", "thumb", (67, 100)),
        ("C01_cmyk_canon300d.jpg", "w640", (500, 333)),
        ("H02_iphone8_12mp.heic", "w1024", (1024, 768)),
        ("L01_issue266_22mp.jpg", "w1024", (1024, 683)),
        ("L01_issue266_22mp.jpg", "display", (800, 533)),
        ("M01_flickr_saw_6mp.jpg", "display", (735, 600)),
        ("A01_alpha_paper_2048.png", "display", (800, 600)),
    ],
)
def test_known_variant_sizes(name: str, variant: str, size: tuple[int, int]) -> None:
    rendered = next(v for v in developed(name).variants if v.name == variant)
    assert (rendered.width, rendered.height) == size
    assert decode(rendered.data).size == size


def test_cmyk_jpeg_becomes_srgb_through_its_profile() -> None:
    name = "C01_cmyk_canon300d.jpg"
    got = _variant(name, "w640")  # 500×333: the full image
    reference = reference_image(corpus_bytes(name)).resize(got.size, Image.Resampling.LANCZOS)
    naive = decode(corpus_bytes(name)).convert("RGB").resize(got.size, Image.Resampling.LANCZOS)
    mean = pixels(got).mean(axis=(0, 1))
    assert np.abs(mean - pixels(reference).mean(axis=(0, 1))).max() < 2.0
    # the check can tell: a conversion that ignores the profile is far off
    assert np.abs(mean - pixels(naive).mean(axis=(0, 1))).max() > 4.0
    assert mean_abs_diff(got, reference) < 6.0 < mean_abs_diff(got, naive)
    for rendered in developed(name).variants:
        assert decode(rendered.data).mode == "RGB"


def test_exif_orientation_turns_the_pixels_not_just_the_size() -> None:
    name = "O02_canon_1000d_10mp_o6.jpg"
    stored = decode(corpus_bytes(name))
    assert stored.size == (3888, 2592)
    assert stored.getexif()[0x0112] == 6
    got = _variant(name, "w320")
    assert got.size == (320, 480)
    right = ImageOps.exif_transpose(stored).resize(got.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(got, right) < 4.0
    for wrong_way in (
        Image.Transpose.ROTATE_90,
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
    ):
        wrong = stored.transpose(wrong_way).resize(got.size, Image.Resampling.LANCZOS)
        assert mean_abs_diff(got, wrong) > 20.0, wrong_way


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiff_is_turned_once(orientation: int, mode: str) -> None:
    """Pillow turns a TIFF upright as it loads it: darkroom must not turn it again. Grey
    and RGBA, which are decoded into an array of darkroom's, were refused as damaged on a
    quarter turn ("tile cannot extend outside image")."""
    stored = sample_image((60, 30), mode)
    data = encode(stored, "TIFF", tiffinfo={0x0112: orientation})
    upright = ImageOps.exif_transpose(_with_orientation(stored, orientation))
    assert probe(data).width == upright.width
    (rendered,) = develop(data, [VariantSpec("full", 100, format="png")]).variants
    got = decode(rendered.data)
    assert got.size == upright.size
    assert mean_abs_diff(got, upright) < 1.0


def _with_orientation(image: Image.Image, orientation: int) -> Image.Image:
    tagged = image.copy()
    tagged.getexif()[0x0112] = orientation
    return tagged


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "CMYK"])
def test_a_big_image_is_copied_out_of_pillow_a_band_of_rows_at_a_time(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(sample_image((96, 64), "RGBA" if mode == "RGBA" else "RGB").convert(mode), "TIFF")
    specs = [VariantSpec("full", 96, format="png"), VariantSpec("half", 48, format="png")]
    whole = develop(data, specs).variants
    monkeypatch.setattr(engine, "_WHOLE_COPY_BYTES", 1000)
    monkeypatch.setattr(engine, "_BAND_BYTES", 96 * 7)  # 7 rows a band of grey: a ragged end
    banded = develop(data, specs).variants
    assert [v.data for v in banded] == [v.data for v in whole]


def test_a_float_tiff_from_0_to_1_keeps_its_tones() -> None:
    ramp = np.repeat(np.linspace(0, 1, 256, dtype=np.float32)[np.newaxis, :], 8, axis=0)
    (rendered,) = develop(
        encode(Image.fromarray(ramp), "TIFF"), [VariantSpec("full", 256)]
    ).variants
    row = np.asarray(decode(rendered.data).convert("L"), dtype=np.float64)[4]
    assert np.abs(row - np.linspace(0, 255, 256)).max() < 8.0


def test_a_half_float_tiff_from_0_to_1_keeps_its_tones() -> None:
    """16-bit floats, which Pillow does not read: libvips labels them as 16-bit grey."""
    ramp = np.repeat(np.linspace(0, 1, 256, dtype=np.float16)[np.newaxis, :, np.newaxis], 8, 0)
    data = _tiff(ramp, photometric=1)
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data))
    (rendered,) = develop(data, [VariantSpec("full", 256, format="png")]).variants
    row = np.asarray(decode(rendered.data).convert("L"), dtype=np.float64)[4]
    assert np.abs(row - np.linspace(0, 255, 256)).max() < 2.0


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_a_tiff_of_signed_samples_is_refused_not_shown_wrapped(
    dtype: type[np.signedinteger[Any]],
) -> None:
    """Pillow read signed bytes as unsigned ones (a ramp from -128 to 127 turned white at
    its middle) and clipped negative 16-bit ones to black."""
    ramp: np.ndarray = np.linspace(np.iinfo(dtype).min, np.iinfo(dtype).max, 256).astype(dtype)
    data = _tiff(np.repeat(ramp[np.newaxis, :, np.newaxis], 8, 0), photometric=1)
    with pytest.raises(Unsupported, match="samples"):
        develop(data, [VariantSpec("full", 256, format="png")])


def test_a_webp_compressed_tiff_is_decoded_by_libvips() -> None:
    """Pillow's libtiff has no WebP codec: the TIFF libvips wrote was failed as damaged."""
    stored = sample_image((60, 30))
    data = bytes(
        pyvips.Image.new_from_array(np.asarray(stored)).tiffsave_buffer(
            compression="webp", lossless=True
        )
    )
    (rendered,) = develop(data, [VariantSpec("full", 100, format="png")]).variants
    assert mean_abs_diff(decode(rendered.data), stored) < 1.0


def _grey_12_bit_tiff(samples: np.ndarray) -> bytes:
    """An uncompressed TIFF of 12-bit grey samples, packed two to three bytes."""
    height, width = samples.shape
    bits = np.unpackbits(samples.astype(">u2").view(np.uint8).reshape(-1, 2), axis=1)[:, 4:]
    rows = [np.packbits(row).tobytes() for row in bits.reshape(height, -1)]
    pixels = b"".join(rows)
    tags = [  # tag, type (3 SHORT, 4 LONG), value
        (256, 3, width),
        (257, 3, height),
        (258, 3, 12),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8 + 2 + 12 * 9 + 4),
        (277, 3, 1),
        (278, 3, height),
        (279, 4, len(pixels)),
    ]
    entries = b"".join(
        struct.pack("<HHI", tag, kind, 1)
        + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in tags
    )
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + b"\x00" * 4 + pixels


def test_a_12_bit_tiff_keeps_its_tones() -> None:
    ramp = np.repeat((np.arange(256) * 4095 // 255)[np.newaxis, :], 8, axis=0)
    data = _grey_12_bit_tiff(ramp)
    (rendered,) = develop(data, [VariantSpec("full", 256, format="png")]).variants
    row = np.asarray(decode(rendered.data).convert("L"), dtype=np.float64)[4]
    assert np.abs(row - np.linspace(0, 255, 256)).max() < 2.0


def _vips_tiff(image: pyvips.Image, orientation: int = 1) -> bytes:
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.tiffsave_buffer())


_SRGB = pyvips.Image.new_from_array(np.asarray(sample_image((60, 30)))).copy(interpretation="srgb")
_CMYK = _SRGB.icc_transform("cmyk", input_profile="srgb")
_CMYK_SHOWN = _CMYK.icc_transform("srgb", embedded=True, intent="perceptual")
NOT_FOR_PILLOW = {  # layouts Photoshop and libvips write: the TIFF, its alpha, its picture
    "float-lab": (_SRGB.colourspace("lab"), None, _SRGB),
    "16-bit-lab": (_SRGB.colourspace("labs"), None, _SRGB),
    "16-bit-grey-alpha": (
        _SRGB.colourspace("grey16").bandjoin(156 * 257),
        156,
        _SRGB.colourspace("b-w"),
    ),
    "cmyk-alpha": (_CMYK.bandjoin(200), 200, _CMYK_SHOWN),
    "rgb-with-two-extra-channels": (_SRGB.bandjoin([200, 50]), 200, _SRGB),
    "16-bit-cmyk-alpha": (
        (_CMYK.cast("ushort") * 257).cast("ushort").bandjoin(191 * 257).cast("ushort"),
        191,
        _CMYK_SHOWN,
    ),
    "float-grey-alpha-from-0-to-1": (
        (_SRGB.colourspace("b-w").cast("float") / 255).bandjoin(0.75),
        191,
        _SRGB.colourspace("b-w"),
    ),
}


@pytest.mark.parametrize("layout", NOT_FOR_PILLOW)
def test_a_tiff_pillow_cannot_read_is_decoded_by_libvips(layout: str) -> None:
    stored, alpha, picture = NOT_FOR_PILLOW[layout]
    data = _vips_tiff(stored)
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data))
    result = develop(data, [VariantSpec("full", 100, format="png")])
    assert (result.info.width, result.info.height) == (60, 30)
    assert result.info.has_alpha is (alpha is not None)
    got = decode(result.variants[0].data)
    if alpha is not None:
        assert got.mode == "RGBA" and got.getchannel("A").getextrema() == (alpha, alpha)
    expected = Image.fromarray(picture.numpy().squeeze()).convert("RGB")
    assert mean_abs_diff(got.convert("RGB"), expected) < 1.0


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_tiff_libvips_decodes_is_turned_upright(orientation: int) -> None:
    """Tall enough that the turn reads its rows out of order."""
    stored = sample_image((1600, 1200))
    lab = pyvips.Image.new_from_array(np.asarray(stored)).copy(interpretation="srgb")
    data = _vips_tiff(lab.colourspace("labs"), orientation)
    upright = ImageOps.exif_transpose(_with_orientation(stored, orientation))
    result = develop(data, [VariantSpec("full", 400, format="png")])
    assert (result.info.width, result.info.height) == upright.size
    got = decode(result.variants[0].data)
    assert mean_abs_diff(got, upright.resize(got.size, Image.Resampling.LANCZOS)) < 2.0


def _tiff(
    samples: np.ndarray,
    photometric: int,
    extra_samples: tuple[int, ...] = (),
    planar: bool = False,
) -> bytes:
    """An uncompressed TIFF of `samples` (height × width × channels, unsigned 16 or 32
    bits, signed, or floats), as Photoshop writes spot colours (ExtraSamples 0) or ICC Lab
    (photometric 9), its channels one after another (planar) or each pixel's together."""
    height, width, channels = samples.shape
    bits = samples.dtype.itemsize * 8
    planes = [samples[:, :, c] for c in range(channels)] if planar else [samples]
    strips = [plane.astype(samples.dtype.newbyteorder("<")).tobytes() for plane in planes]
    sample_format = {"u": 1, "i": 2, "f": 3}[samples.dtype.kind]
    fields = [  # tag, type (3 SHORT, 4 LONG), values
        (256, 4, [width]),
        (257, 4, [height]),
        (258, 3, [bits] * channels),
        (259, 3, [1]),
        (262, 3, [photometric]),
        (277, 3, [channels]),
        (278, 4, [height]),
        (279, 4, [len(strip) for strip in strips]),
        (284, 3, [2 if planar else 1]),
        (339, 3, [sample_format] * channels),
        *([(338, 3, list(extra_samples))] if extra_samples else []),
    ]

    def packed(kind: int, numbers: list[int]) -> bytes:
        return struct.pack(f"<{len(numbers)}{'H' if kind == 3 else 'I'}", *numbers)

    ifd_size = 2 + 12 * (len(fields) + 1) + 4
    outside = sum(len(p) for p in (packed(k, n) for _, k, n in fields) if len(p) > 4)
    outside += 4 * len(strips) if len(strips) > 1 else 0  # the strip offsets themselves
    first = 8 + ifd_size + outside
    starts = [first + sum(len(strip) for strip in strips[:i]) for i in range(len(strips))]
    fields = sorted([*fields, (273, 4, starts)])  # where the pixels are
    entries, values = b"", b""
    for tag, kind, numbers in fields:
        value = packed(kind, numbers)
        if len(value) > 4:  # held after the page's fields
            entries += struct.pack("<HHII", tag, kind, len(numbers), 8 + ifd_size + len(values))
            values += value
        else:
            entries += struct.pack("<HHI", tag, kind, len(numbers)) + value.ljust(4, b"\0")
    ifd = struct.pack("<H", len(fields)) + entries + bytes(4)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + values + b"".join(strips)


_RGB16 = np.asarray(_SRGB.cast("ushort") * 257).astype(np.uint16)


@pytest.mark.parametrize(
    ("samples", "extra", "alpha"),
    [
        (_RGB16, (), None),
        (np.dstack([_RGB16, np.full_like(_RGB16[:, :, :2], 191 * 257)]), (2, 0), 191),
    ],
    ids=["16-bit-rgb", "16-bit-rgb-alpha-and-spot"],
)
def test_a_planar_tiff_is_decoded_by_libvips(
    samples: np.ndarray, extra: tuple[int, ...], alpha: int | None
) -> None:
    """Pillow put 16-bit planes into the wrong channels, and refused extra channels."""
    data = _tiff(samples, photometric=2, extra_samples=extra, planar=True)
    result = develop(data, [VariantSpec("full", 100, format="png")])
    got = decode(result.variants[0].data)
    assert result.info.has_alpha is (alpha is not None)
    if alpha is not None:
        assert got.getchannel("A").getextrema() == (alpha, alpha)
    expected = Image.fromarray(_SRGB.numpy())
    assert mean_abs_diff(got.convert("RGB"), expected) < 1.0


@pytest.mark.parametrize("gps", [False, True])
def test_a_tiff_libvips_decodes_keeps_its_metadata_summary(gps: bool) -> None:
    """Pillow reads the EXIF of a TIFF it does not decode; its orientation is not applied
    twice."""
    stored = (np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)
    fields = {
        271: "Nikon",
        272: "D750",
        274: 6,
        34665: {33434: 0.004, 36867: "2020:01:02 03:04:05"},
        34853: {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 21.0, 0.0)},
    }
    out = io.BytesIO()
    # one channel: the planar layout is the chunky one, which Pillow writes
    Image.fromarray(stored).save(out, "TIFF", tiffinfo={284: 2, **fields})
    result = develop(out.getvalue(), [VariantSpec("full", 100, format="png")], include_gps=gps)
    expected = {
        "camera_make": "Nikon",
        "camera_model": "D750",
        "exposure_time": 0.004,
        "taken_at": "2020-01-02T03:04:05",
    }
    if gps:
        expected |= {"gps_latitude": 48.8583333, "gps_longitude": 2.35}
    assert result.info.metadata == expected
    assert (result.info.width, result.info.height) == (40, 60)
    got = decode(result.variants[0].data)
    assert got.size == (40, 60)
    upright = Image.fromarray((stored >> 8).astype(np.uint8)).transpose(Image.Transpose.ROTATE_270)
    assert mean_abs_diff(got.convert("L"), upright) < 1.0


def test_a_tiff_of_32_bit_unsigned_grey_is_unsupported() -> None:
    """Pillow read its samples as signed ones."""
    grey = np.asarray(_SRGB.colourspace("b-w").numpy()).astype(np.uint32) * 16843009
    with pytest.raises(Unsupported, match="uint"):
        develop(_tiff(grey[:, :, np.newaxis], photometric=1))


def test_a_spot_colour_channel_is_not_taken_for_transparency() -> None:
    grey = np.asarray(_SRGB.colourspace("grey16").numpy())[:, :, np.newaxis]
    spot = np.full_like(grey, 40 * 257)
    data = _tiff(np.concatenate([grey, spot], axis=2), photometric=1, extra_samples=(0,))
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data))
    result = develop(data, [VariantSpec("full", 100, format="png")])
    assert not result.info.has_alpha
    expected = Image.fromarray(_SRGB.colourspace("b-w").numpy().squeeze()).convert("RGB")
    assert mean_abs_diff(decode(result.variants[0].data).convert("RGB"), expected) < 1.0


def test_a_tiff_in_icc_lab_is_unsupported() -> None:
    lab = np.zeros((30, 60, 3), np.uint16)
    with pytest.raises(Unsupported, match="Lab"):
        develop(_tiff(lab, photometric=9))


def test_a_tiff_with_dozens_of_extra_channels_is_unsupported() -> None:
    """libvips would decode every one: 63 channels of 100 MP took 22 s and 1.8 GB."""
    with pytest.raises(Unsupported, match="13 channels"):
        develop(_vips_tiff(_SRGB.bandjoin([255] * 10)))


def test_a_tiff_of_32_bit_integer_rgb_is_unsupported() -> None:
    rgb = (_SRGB.cast("uint") * 16843009).cast("uint").copy(interpretation="srgb")
    with pytest.raises(Unsupported, match="uint"):
        develop(_vips_tiff(rgb))


def test_photos_decoded_one_after_another_in_the_same_memory_stay_apart() -> None:
    """The memory a JPEG is decoded into is kept for the next one, of any size."""
    specs = [VariantSpec("small", 120, format="png")]
    big, small = (
        corpus_bytes("P02_japanese_shop_12mp_prog.jpg"),
        corpus_bytes("S01_canon_sd300_2mp.jpg"),
    )
    first = develop(big, specs).variants
    between = develop(small, specs).variants
    assert develop(big, specs).variants == first
    assert develop(small, specs).variants == between
    assert jpeg._buffers.kept is not None


_XMP_ORIENTATION_6 = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    ' xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_an_orientation_given_only_in_xmp_is_applied_in_every_format(fmt: str) -> None:
    """As Pillow's `exif_transpose` does: Lightroom exports carry it in XMP too. Pillow
    turns a TIFF by its XMP as it loads it, but tells its size unturned: its variants
    came out squeezed to the stored shape."""
    stored = sample_image((60, 30))
    params: dict[str, Any] = {"xmp": _XMP_ORIENTATION_6.encode()}
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", _XMP_ORIENTATION_6)
        params = {"pnginfo": text}
    elif fmt == "TIFF":
        params = {"tiffinfo": {700: _XMP_ORIENTATION_6.encode()}}
    elif fmt == "WEBP":
        params["lossless"] = True
    result = develop(encode(stored, fmt, **params), [VariantSpec("full", 100, format="png")])
    assert (result.info.width, result.info.height) == (30, 60)
    upright = ImageOps.exif_transpose(_with_orientation(stored, 6))
    assert mean_abs_diff(decode(result.variants[0].data), upright) < (1.0 if fmt == "PNG" else 6.0)


def test_a_png_with_imagemagick_exif_text_is_turned_and_summarised() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Canon"
    raw = (b"Exif\x00\x00" + exif.tobytes()).hex()
    lines = "\n".join(raw[at : at + 72] for at in range(0, len(raw), 72))
    text = PngImagePlugin.PngInfo()
    text.add_text("Raw profile type exif", f"\nexif\n{len(raw) // 2:8d}\n{lines}\n", zip=True)
    info = probe(encode(sample_image((60, 30)), "PNG", pnginfo=text))
    assert (info.width, info.height) == (30, 60)
    assert info.metadata["camera_make"] == "Canon"


def test_a_number_written_as_text_is_not_kept() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769)[0x920A] = "abcd"  # FocalLength, as text
    exif.get_ifd(0x8769)[0x829D] = 2.8  # FNumber
    data = encode(sample_image((64, 48)), "JPEG", exif=exif)
    summary = probe(data).metadata
    assert summary["camera_make"] == "Canon"
    assert summary["f_number"] == 2.8
    assert "focal_length" not in summary


def test_heic_decodes_as_shown() -> None:
    name = "H02_iphone8_12mp.heic"
    info = developed(name).info
    assert (info.width, info.height) == (4032, 3024)
    got = _variant(name, "w640")
    assert got.size == (640, 480)
    reference = reference_image(corpus_bytes(name)).resize(got.size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(got, reference) < 4.0


def test_16_bit_png_becomes_8_bit() -> None:
    name = "N01_png16_724x1024.png"
    with Image.open(io.BytesIO(corpus_bytes(name))) as original:
        assert original.info.get("icc_profile")
    got = _variant(name, "w1024")
    assert got.mode == "RGB"
    reference = reference_image(corpus_bytes(name))
    assert mean_abs_diff(got, reference) < 4.0


def test_16_bit_greyscale_keeps_its_tones() -> None:
    """A 16-bit ramp must come out as the same ramp in 8 bits: dark stays dark."""
    ramp = np.repeat(np.linspace(0, 65535, 256).astype(np.uint16)[np.newaxis, :], 16, axis=0)
    data = encode(Image.fromarray(ramp), "PNG")
    assert decode(data).mode == "I;16"
    (rendered,) = develop(data, [VariantSpec("full", 256)]).variants
    row = np.asarray(decode(rendered.data).convert("L"), dtype=np.float64)[8]
    expected = np.linspace(0, 255, 256)
    assert np.abs(row - expected).max() < 8.0
    assert np.all(np.diff(np.convolve(row, np.ones(9) / 9, mode="valid")) > -1.0)


@pytest.mark.parametrize("interpretation", ["rgb16", "grey16"])
@pytest.mark.parametrize("interlaced", [False, True], ids=["plain", "interlaced"])
def test_a_16_bit_png_with_transparency_keeps_its_colours_and_alpha(
    interpretation: str, interlaced: bool
) -> None:
    """An interlaced one is decoded by Pillow (libvips would hold it whole at 16 bits), a
    plain one streams from libvips: both the same."""
    colour = _SRGB if interpretation == "rgb16" else _SRGB.colourspace("b-w")
    alpha = pyvips.Image.black(colour.width, colour.height) + 128
    alpha = alpha.draw_rect(255, 0, 0, colour.width // 2, colour.height, fill=True)
    eight = colour.bandjoin(alpha.cast("uchar"))
    sixteen = (eight.cast("ushort") * 257).copy(interpretation=interpretation)
    data = sixteen.pngsave_buffer(interlace=interlaced, bitdepth=16)
    assert (data[24], data[28]) == (16, int(interlaced))
    result = develop(data, [VariantSpec("full", colour.width, format="png")])
    assert result.info.has_alpha
    got = decode(result.variants[0].data).convert("RGBA")
    expected = Image.fromarray(eight.colourspace("srgb").numpy()).convert("RGBA")
    assert got.size == expected.size
    assert mean_abs_diff(got, expected) < 1.0


def test_animated_gif_gives_its_first_frame() -> None:
    name = "G02_anim_300.gif"
    got = _variant(name, "w320")
    with Image.open(io.BytesIO(corpus_bytes(name))) as animation:
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(animation)]
    assert len(frames) == 11
    first, *others = (mean_abs_diff(got, frame) for frame in frames)
    assert first < 8.0
    assert min(others) > 3 * first


def test_transparency_is_kept() -> None:
    name = "A01_alpha_paper_2048.png"
    reference = reference_image(corpus_bytes(name))
    assert reference.mode == "RGBA"
    for rendered in developed(name).variants:
        got = decode(rendered.data)
        expected = reference.resize(got.size, Image.Resampling.LANCZOS)
        alpha = np.asarray(got.getchannel("A"), dtype=np.float64)
        expected_alpha = np.asarray(expected.getchannel("A"), dtype=np.float64)
        assert abs(alpha.mean() - expected_alpha.mean()) < 2.0, rendered.name
        assert np.abs(alpha - expected_alpha).mean() < 3.0, rendered.name


def test_metadata_never_reaches_any_output_format() -> None:
    """EXIF with GPS, XMP, a JPEG comment: none of it reaches a variant, in any format."""
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (1.0, 2.0, 3.0), 3: "E", 4: (4.0, 5.0, 6.0)})
    data = encode(
        sample_image((120, 80)),
        "JPEG",
        exif=exif,
        comment=b"home: 12 Secret Road",
        xmp=b"<x:xmpmeta>secret</x:xmpmeta>",
    )
    specs = [VariantSpec(fmt, 60, format=fmt) for fmt in ("jpeg", "webp", "png", "avif")]
    result = develop(data, specs, include_gps=True)
    assert result.info.metadata["gps_latitude"] == pytest.approx(1.0341667)
    assert (result.info.width, result.info.height) == (80, 120)
    for rendered in result.variants:
        image = decode(rendered.data)
        assert image.size == (60, 90), rendered.name
        assert not image.getexif(), rendered.name
        assert not {"exif", "xmp", "comment", "icc_profile"} & set(image.info), rendered.name
        assert b"Secret" not in rendered.data and b"secret" not in rendered.data


def test_variants_come_back_in_spec_order_even_with_repeated_names() -> None:
    specs = [VariantSpec("a", 40), VariantSpec("b", 90), VariantSpec("a", 20)]
    variants = develop(encode(sample_image((100, 50)), "PNG"), specs).variants
    assert [(v.name, v.width, v.height) for v in variants] == [
        ("a", 40, 20),
        ("b", 90, 45),
        ("a", 20, 10),
    ]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_quality_against_lanczos_from_the_full_image(
    case: CorpusCase, record_property: Callable[[str, object], None]
) -> None:
    """SSIM (luma) of each variant against Pillow LANCZOS from the full, oriented, sRGB image,
    minus the SSIM of that same LANCZOS image after the same encoder at the same quality."""
    deltas = _ssim_deltas(case.name, developed(case.name).variants)
    record_property("ssim_deltas", deltas)
    worst = min(deltas, key=deltas.__getitem__)
    shown = ", ".join(f"{name} {delta:+.4f}" for name, delta in deltas.items())
    assert deltas[worst] >= SSIM_FLOOR, f"{case.name}: {shown}"


def _ssim_deltas(name: str, variants: Sequence[Rendered]) -> dict[str, float]:
    reference = reference_image(corpus_bytes(name))
    deltas: dict[str, float] = {}
    for rendered in variants:
        got = decode(rendered.data)
        truth = reference.resize(got.size, Image.Resampling.LANCZOS)
        baseline = roundtrip(truth, "WEBP" if rendered.content_type == "image/webp" else "JPEG")
        truth_luma = luma(truth)
        deltas[rendered.name] = ssim(luma(got), truth_luma) - ssim(luma(baseline), truth_luma)
    return deltas


def test_a_transparent_photo_with_only_jpeg_variants_is_flattened_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every variant a JPEG, the image is flattened onto white before it is resized
    (an opaque cascade); with one transparent variant besides, each JPEG is resized
    premultiplied and flattened after. Flattening commutes with resizing: the variants must
    agree, and both hold the quality floor against the flattened Lanczos reference."""
    resampled: list[int] = []

    def cascade(start: pyvips.Image, *args: Any) -> list[Pixels]:
        resampled.append(start.bands)
        return resample.cascade(start, *args)

    monkeypatch.setattr(engine, "cascade", cascade)
    name = "A01_alpha_paper_2048.png"
    jpegs = [VariantSpec(s.name, s.width, s.height, "jpeg") for s in DEFAULT_VARIANTS]
    flattened_first = develop(corpus_bytes(name), jpegs)
    mixed = develop(corpus_bytes(name), [*jpegs, VariantSpec("kept", 200, format="webp")])
    assert resampled == [3, 4]
    assert flattened_first.info.has_alpha and mixed.info.has_alpha
    assert decode(mixed.variants[-1].data).mode == "RGBA"
    for first, after in zip(flattened_first.variants, mixed.variants, strict=False):
        assert first.content_type == after.content_type == "image/jpeg"
        assert mean_abs_diff(decode(first.data), decode(after.data)) < 1.5, first.name
    deltas = _ssim_deltas(name, flattened_first.variants)
    assert min(deltas.values()) >= SSIM_FLOOR, deltas


def test_ssim_sanity() -> None:
    """The SSIM helper: 1 for identical images, lower for a blurred or shifted one."""
    image = luma(sample_image((120, 90)))
    assert ssim(image, image) == pytest.approx(1.0)
    shifted = np.roll(image, 3, axis=1)
    assert ssim(image, shifted) < 0.9
    tiny = image[:5, :7]
    assert ssim(tiny, tiny) == pytest.approx(1.0)


def test_every_variant_is_converted_from_display_p3() -> None:
    """The small variants are made from converted larger ones; none may miss the conversion."""
    p3 = pillow_heif.open_heif(corpus_bytes("H02_iphone8_12mp.heic")).info["icc_profile"]
    stored = Image.new("RGB", (1200, 900), (200, 100, 50))
    data = encode(stored, "PNG", icc_profile=p3)
    reference = reference_image(data)
    specs = [VariantSpec("big", 600, format="png"), VariantSpec("small", 60, format="png")]
    for rendered in develop(data, specs).variants:
        got = pixels(decode(rendered.data)).mean(axis=(0, 1))
        assert np.abs(got - pixels(reference).mean(axis=(0, 1))).max() < 1.0, rendered.name
        assert np.abs(got - (200, 100, 50)).max() > 8.0, rendered.name


@pytest.mark.parametrize("formats", [("jpeg", "jpeg"), ("jpeg", "png")], ids=["jpeg", "mixed"])
def test_a_transparent_display_p3_image_is_blended_onto_white_in_srgb(
    formats: tuple[OutputFormat, OutputFormat],
) -> None:
    """Converted first, then flattened, as a page shows it: blending with white in Display
    P3 and converting after gives another colour where P3 holds more than sRGB."""
    p3 = pillow_heif.open_heif(corpus_bytes("H02_iphone8_12mp.heic")).info["icc_profile"]
    stored = Image.new("RGBA", (1200, 900), (0, 200, 0, 128))
    data = encode(stored, "PNG", icc_profile=p3)
    expected = pixels(reference_image(data)).mean(axis=(0, 1))  # flattened onto white
    specs = [
        VariantSpec("big", 600, format=formats[0]),
        VariantSpec("small", 60, format=formats[1]),
    ]
    big = develop(data, specs).variants[0]
    assert big.content_type == "image/jpeg"
    got = pixels(decode(big.data)).mean(axis=(0, 1))
    assert np.abs(got - expected).max() < 2.0, (got, expected)
