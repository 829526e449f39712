"""Helpers for the imaging tests: the corpus, reference renderings, SSIM, broken files."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
import pillow_heif
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps

from darkroom.domain import VariantSpec
from darkroom.imaging import Developed, develop
from tests.corpus import CORPUS

pillow_heif.register_heif_opener()

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CorpusCase:
    """What each corpus file is known to hold (see the corpus README)."""

    name: str
    format: str
    """darkroom's (Pillow's) format name."""
    width: int
    """As shown, after EXIF orientation."""
    height: int
    frames: int = 1
    alpha: bool = False
    make: str | None = None
    model: str | None = None
    gps: tuple[float, float] | None = None
    """(latitude, longitude) for files whose EXIF locates them."""


CASES: tuple[CorpusCase, ...] = (
    CorpusCase("A01_alpha_paper_2048.png", "PNG", 2048, 1536, alpha=True),
    CorpusCase(
        "C01_cmyk_canon300d.jpg", "JPEG", 500, 333, make="Canon", model="Canon EOS 300D DIGITAL"
    ),
    CorpusCase("G02_anim_300.gif", "GIF", 300, 300, frames=11),
    CorpusCase(
        "H02_iphone8_12mp.heic",
        "HEIF",
        4032,
        3024,
        make="Apple",
        model="iPhone 8",
        gps=(23.1779, 113.3943),
    ),
    CorpusCase(
        "L01_issue266_22mp.jpg", "JPEG", 5760, 3840, make="Canon", model="Canon EOS 5D Mark III"
    ),
    CorpusCase(
        "L04_galaxy_s7e_12mp.jpg",
        "JPEG",
        4032,
        3024,
        make="samsung",
        model="SM-G935L",
        gps=(48.8925, 2.2364),
    ),
    CorpusCase("L07_moto_g9_16mp.jpg", "JPEG", 4640, 3472, make="motorola", model="moto g(9) plus"),
    CorpusCase("M01_flickr_saw_6mp.jpg", "JPEG", 2725, 2225),
    CorpusCase("N01_png16_724x1024.png", "PNG", 724, 1024),
    CorpusCase(
        "O02_canon_1000d_10mp_o6.jpg", "JPEG", 2592, 3888, make="Canon", model="Canon EOS 1000D"
    ),
    CorpusCase("P02_japanese_shop_12mp_prog.jpg", "JPEG", 4217, 2817),
    CorpusCase(
        "S01_canon_sd300_2mp.jpg", "JPEG", 1600, 1200, make="Canon", model="Canon PowerShot SD300"
    ),
    CorpusCase("W02_webp_tree_1024.webp", "WEBP", 1024, 772),
)
CASE_BY_NAME = {case.name: case for case in CASES}


@cache
def corpus_bytes(name: str) -> bytes:
    """A corpus file's bytes. A missing corpus is a failure, never a skip."""
    path = CORPUS / name
    if not path.is_file():
        raise AssertionError(
            f"corpus file {path} is missing: the imaging tests need the shared corpus "
            "(../shared/corpus beside the repository, or DARKROOM_CORPUS)"
        )
    return path.read_bytes()


@cache
def developed(name: str) -> Developed:
    """`develop()` of a corpus file with the default variants, made once per test run."""
    return develop(corpus_bytes(name))


# ---------------------------------------------------------------- pixels and references


def decode(data: bytes) -> Image.Image:
    """Open and fully decode `data` with Pillow (a truncated file raises)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def ideal_fit(width: int, height: int, spec: VariantSpec) -> tuple[float, float]:
    """The exact (unrounded) size `spec` asks for: within the box, aspect kept, no upscale."""
    scale = 1.0
    if spec.width is not None:
        scale = min(scale, spec.width / width)
    if spec.height is not None:
        scale = min(scale, spec.height / height)
    return width * scale, height * scale


def fit_problems(size: tuple[int, int], source: tuple[int, int], spec: VariantSpec) -> list[str]:
    """What is wrong with `size` as `spec`'s rendering of a `source`-sized image (empty: fine)."""
    w, h = size
    sw, sh = source
    problems = []
    if w < 1 or h < 1:
        problems.append(f"{w}×{h} is empty")
    if spec.width is not None and w > spec.width:
        problems.append(f"width {w} > box {spec.width}")
    if spec.height is not None and h > spec.height:
        problems.append(f"height {h} > box {spec.height}")
    if w > sw or h > sh:
        problems.append(f"{w}×{h} upscales {sw}×{sh}")
    ideal_w, ideal_h = ideal_fit(sw, sh, spec)
    # one pixel of rounding, and no side below 1 pixel
    if abs(w - max(1.0, ideal_w)) > 1 or abs(h - max(1.0, ideal_h)) > 1:
        problems.append(f"{w}×{h} is not the fit {ideal_w:.2f}×{ideal_h:.2f} of {sw}×{sh}")
    return problems


_SRGB = ImageCms.createProfile("sRGB")


def reference_image(data: bytes) -> Image.Image:
    """The full image as a viewer shows it, made independently of darkroom: first frame,
    EXIF orientation applied, converted to sRGB through its ICC profile, 8-bit RGB or RGBA."""
    image = decode(data)
    transposed = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    if transposed.mode.startswith("I;16"):  # 16-bit grey: the high byte
        high = np.asarray(transposed, dtype=np.uint16) >> 8
        transposed = Image.fromarray(high.astype(np.uint8))
    if transposed.mode in ("P", "PA", "LA", "La", "RGBa"):
        has_alpha = "transparency" in transposed.info or transposed.mode != "P"
        transposed = transposed.convert("RGBA" if has_alpha else "RGB")
    if icc and transposed.mode in ("RGB", "RGBA", "CMYK"):
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if transposed.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(transposed, source, _SRGB, outputMode=out_mode)
        assert converted is not None
        return converted
    return transposed.convert("RGBA" if transposed.mode == "RGBA" else "RGB")


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """RGB, with any alpha composited onto `background`."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    canvas = Image.new("RGB", image.size, background)
    canvas.paste(image, mask=image.getchannel("A"))
    return canvas


def pixels(image: Image.Image) -> FloatArray:
    """RGB pixels as float64, shape (height, width, 3)."""
    return np.asarray(flatten(image), dtype=np.float64)


def luma(image: Image.Image) -> FloatArray:
    """BT.601 luma of the image flattened onto white, as float64."""
    rgb = pixels(image)
    result: FloatArray = rgb @ np.array([0.299, 0.587, 0.114])
    return result


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two same-sized images, in 8-bit levels."""
    assert a.size == b.size, (a.size, b.size)
    return float(np.mean(np.abs(pixels(a) - pixels(b))))


def roundtrip(image: Image.Image, fmt: str, quality: int = 85) -> Image.Image:
    """`image` encoded the way darkroom encodes a variant, and decoded again."""
    out = io.BytesIO()
    if fmt == "JPEG":
        flatten(image).save(out, "JPEG", quality=quality)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=quality, method=4)
    else:
        raise ValueError(fmt)
    return decode(out.getvalue())


def _gaussian(size: int = 11, sigma: float = 1.5) -> FloatArray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    kernel: FloatArray = np.exp(-(x**2) / (2 * sigma**2))
    normalised: FloatArray = kernel / kernel.sum()
    return normalised


def _filter(image: FloatArray, kernel: FloatArray) -> FloatArray:
    """Separable 'valid' convolution of a 2-D array with a 1-D kernel on both axes."""
    k = len(kernel)
    rows = np.lib.stride_tricks.sliding_window_view(image, k, axis=0) @ kernel
    result: FloatArray = np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ kernel
    return result


def ssim(a: FloatArray, b: FloatArray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two same-shaped 2-D arrays: 11×11 Gaussian window,
    sigma 1.5, K1 0.01, K2 0.03; the window shrinks for images smaller than 11 pixels."""
    assert a.shape == b.shape, (a.shape, b.shape)
    size = min(11, *a.shape)
    kernel = _gaussian(size, 1.5 * size / 11)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_a = _filter(a, kernel)
    mu_b = _filter(b, kernel)
    var_a = _filter(a * a, kernel) - mu_a**2
    var_b = _filter(b * b, kernel) - mu_b**2
    cov = _filter(a * b, kernel) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


# ---------------------------------------------------------------- broken files


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_claiming(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A well-formed PNG header claiming `width`×`height`, with one tiny IDAT and IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


@cache
def png_bomb(side: int = 30_000) -> bytes:
    """A complete, valid 1-bit greyscale PNG of side×side pixels, all zero: a few hundred
    kilobytes that decode to side² pixels (900 MB for 30000)."""
    return png_flat(side, side, b"\x00" * ((side + 7) // 8), bit_depth=1, colour_type=0)


def png_flat(
    width: int,
    height: int,
    row: bytes,
    bit_depth: int = 8,
    colour_type: int = 6,
    interlaced: bool = False,
) -> bytes:
    """A complete, valid PNG of `width`×`height` pixels, every row `row` (its samples,
    packed): a few hundred kilobytes however many pixels it has. `interlaced` (Adam7) needs
    whole bytes a pixel."""
    compressor = zlib.compressobj(9)
    parts = []
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    pixel = len(row) // width
    for left, top, across, down in passes:
        columns = (width - left + across - 1) // across
        rows = (height - top + down - 1) // down
        if not columns or not rows:
            continue
        line = b"\x00" + (row[: columns * pixel] if interlaced else row)  # filter byte
        chunk_rows = max(1, 1_000_000 // len(line))
        parts += [compressor.compress(line * chunk_rows) for _ in range(rows // chunk_rows)]
        parts.append(compressor.compress(line * (rows % chunk_rows)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, int(interlaced))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
"""Each Adam7 pass: its first column and row, and its steps across and down."""


@dataclass(frozen=True, slots=True)
class Developing:
    peak_mb: int
    """VmHWM, the peak of the process's memory."""
    outcome: str
    """"ready", or the error's class and message."""


def develop_apart(data: bytes, data_limit_mb: int | None = None) -> Developing:
    """`develop()` of `data` with the default variants, in a fresh interpreter, its data
    (`RLIMIT_DATA`) bounded to `data_limit_mb` if given. VmHWM, not getrusage's peak: that
    would be the test run's too, as the child began as a copy of it."""
    script = (
        "import re, resource, sys\n"
        "from darkroom.errors import DarkroomError\n"
        "from darkroom.imaging import develop\n"
        "if int(sys.argv[1]):\n"
        "    bound = int(sys.argv[1]) * 2**20\n"
        "    resource.setrlimit(resource.RLIMIT_DATA, (bound, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    develop(sys.stdin.buffer.read())\n"
        "    outcome = 'ready'\n"
        "except DarkroomError as exc:\n"
        "    outcome = f'{type(exc).__name__}: {exc}'\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) // 1024)\n"
        "print(outcome)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(data_limit_mb or 0)],
        input=data,
        capture_output=True,
        check=True,
        timeout=120,
    )
    peak, outcome = done.stdout.decode().split("\n", 1)
    return Developing(int(peak), outcome.strip())


_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD})


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """`data` (a JPEG) with its SOF segment rewritten to claim `width`×`height`."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"not a JPEG marker at {pos}")
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            patched = bytearray(data)
            struct.pack_into(">HH", patched, pos + 5, height, width)
            return bytes(patched)
        pos += 2 + length
    raise ValueError("no SOF segment")


def gif_with_screen(data: bytes, width: int, height: int) -> bytes:
    """`data` (a GIF) with its logical screen claiming `width`×`height`."""
    patched = bytearray(data)
    struct.pack_into("<HH", patched, 6, width, height)
    return bytes(patched)


def webp_animation(canvas: tuple[int, int], frames: list[tuple[int, int, Image.Image]]) -> bytes:
    """An animated WebP of `canvas` size whose frames are the images given, each placed at
    its (left, top) (even numbers, as the format stores halves)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)

    def u24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    body = b"WEBP" + chunk(b"VP8X", b"\x12\0\0\0" + u24(canvas[0] - 1) + u24(canvas[1] - 1))
    body += chunk(b"ANIM", struct.pack("<IH", 0, 0))
    for left, top, image in frames:
        still = encode(image, "WEBP", lossless=True)
        (length,) = struct.unpack_from("<I", still, 16)
        assert still[12:16] == b"VP8L", "a lossless still is one VP8L chunk"
        place = u24(left // 2) + u24(top // 2) + u24(image.width - 1) + u24(image.height - 1)
        frame = place + u24(100) + b"\0" + still[12 : 20 + length + (length & 1)]
        body += chunk(b"ANMF", frame)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def heic_grid(tiles: list[Image.Image], columns: int, rows: int) -> bytes:
    """A HEIC whose primary image is a grid of `columns`×`rows` cells of the size of the
    first tile, filled with `tiles` in turn: one tile for every cell if only one is given."""

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", 8 + len(body)) + kind + body

    def full(kind: bytes, version: int, body: bytes) -> bytes:
        return box(kind, bytes((version, 0, 0, 0)) + body)

    def boxes(data: bytes) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        pos = 0
        while pos + 8 <= len(data):
            length, kind = struct.unpack_from(">I4s", data, pos)
            found.setdefault(kind, data[pos + 8 : pos + length])
            pos += length
        return found

    coded, parameters = [], b""
    for tile in tiles:
        single = boxes(encode(tile, "HEIF", quality=90))  # one item, its data all of `mdat`
        parameters = boxes(boxes(boxes(single[b"meta"][4:])[b"iprp"])[b"ipco"])[b"hvcC"]
        coded.append(single[b"mdat"])
    width, height = tiles[0].size
    ids = list(range(2, 2 + len(tiles)))
    cells = [ids[cell % len(ids)] for cell in range(columns * rows)]
    items = [full(b"infe", 2, struct.pack(">HH", 1, 0) + b"grid\0")]
    items += [full(b"infe", 2, struct.pack(">HH", item, 0) + b"hvc1\0") for item in ids]
    grid = bytes((0, 0, rows - 1, columns - 1)) + struct.pack(">HH", width * columns, height * rows)
    ipco = box(
        b"ipco",
        box(b"hvcC", parameters)
        + full(b"ispe", 0, struct.pack(">II", width, height))
        + full(b"ispe", 0, struct.pack(">II", width * columns, height * rows)),
    )
    associations = struct.pack(">HBB", 1, 1, 3)
    associations += b"".join(struct.pack(">HBBB", item, 2, 0x81, 2) for item in ids)
    fixed = (
        box(b"hdlr", b"\0" * 8 + b"pict" + b"\0" * 13)
        + full(b"pitm", 0, struct.pack(">H", 1))
        + full(b"iinf", 0, struct.pack(">H", len(items)) + b"".join(items))
        + full(b"iref", 0, box(b"dimg", struct.pack(f">HH{len(cells)}H", 1, len(cells), *cells)))
        + box(b"iprp", ipco + full(b"ipma", 0, struct.pack(">I", 1 + len(ids)) + associations))
        + box(b"idat", grid)
    )
    ftyp = box(b"ftyp", b"heic\0\0\0\0mif1heic")

    def located(start: int) -> bytes:
        entries = struct.pack(">HHHHII", 1, 1, 0, 1, 0, len(grid))  # in `idat`
        for item, data in zip(ids, coded, strict=True):
            entries += struct.pack(">HHHHII", item, 0, 0, 1, start, len(data))
            start += len(data)
        iloc = full(b"iloc", 1, b"\x44\x00" + struct.pack(">H", 1 + len(ids)) + entries)
        return ftyp + full(b"meta", 0, fixed + iloc)

    head = located(0)
    return located(len(head) + 8) + box(b"mdat", b"".join(coded))


def flip_middle(data: bytes, count: int = 16, at: float = 0.5) -> bytes:
    """`data` with `count` bytes inverted at fraction `at` of the file."""
    start = int(len(data) * at)
    flipped = bytes(b ^ 0xFF for b in data[start : start + count])
    return data[:start] + flipped + data[start + count :]


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def sample_image(size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """A small picture with structure (gradients and a block), in `mode`."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(1, w - 1)).astype(np.uint8)
    g = (y * 255 // max(1, h - 1)).astype(np.uint8)
    b = np.where((x // 16 + y // 16) % 2 == 0, 40, 220).astype(np.uint8)
    image = Image.fromarray(np.dstack([r, g, b]))
    if mode == "RGBA":
        alpha = Image.fromarray(((x + y) * 255 // max(1, w + h - 2)).astype(np.uint8))
        image.putalpha(alpha)
        return image
    return image.convert(mode)
