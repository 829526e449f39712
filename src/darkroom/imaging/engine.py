"""darkroom's engine: Pillow reads headers and metadata and decodes most formats, JPEG is
decoded by libjpeg-turbo scaled to what the largest variant needs, libvips resamples and
libjpeg-turbo encodes."""

from __future__ import annotations

import functools
import io
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager

import numpy as np
import pillow_heif
import pyvips
from PIL import ExifTags, Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from darkroom.domain import VariantSpec
from darkroom.errors import DarkroomError, InvalidImage, TooLarge, Unsupported
from darkroom.imaging import Developed, ImageInfo, Limits, avif, libwebp, resample, vipsload
from darkroom.imaging.colour import (
    cmyk_to_srgb,
    converted,
    greys_converted,
    is_grey_profile,
    nclx_profile,
    srgb_transform,
)
from darkroom.imaging.encode import encode, output_format
from darkroom.imaging.formats import (
    AVIF,
    BMP,
    GIF,
    HEIF,
    JPEG,
    PNG,
    SNIFF_BYTES,
    TIFF,
    WEBP,
    Format,
    detect,
)
from darkroom.imaging.integrity import check_container, tiff_first_values
from darkroom.imaging.jpeg import decode_scaled
from darkroom.imaging.marking import apply
from darkroom.imaging.metadata import exif_of, summarize
from darkroom.imaging.placeholder import placeholder
from darkroom.imaging.resample import Pixels, cascade, from_array
from darkroom.imaging.watermark import Watermark

pillow_heif.register_heif_opener()
# darkroom checks its own pixel limit from the header before decoding (see `_open`);
# Pillow's built-in check would only warn below twice its limit.
Image.MAX_IMAGE_PIXELS = None

_CAMERA_HEADROOM = 1.25
"""A camera's own photo is decoded at the smallest size at least this many times the
largest variant. Its optics and demosaicing leave little detail near the last pixel, so the
pre-reduction of a scaled JPEG decode costs little: on the corpus's camera and phone photos
the worst variant loses 0.0018 of SSIM against Lanczos from the full image (the 10 MP DSLR
photo decoded at 1/2, 1.27× its largest variant; the 22 MP one at 1/4, 1.41×), against
0.0015 at 1.9× headroom. An export that kept the camera's EXIF after software resized and
sharpened it is taken for one too, and may lose what `_HEADROOM` says (as libvips' own
thumbnails do)."""
_HEADROOM = 4.0
"""Any other image (no camera named in its EXIF) may have been resized by software and be
sharp to the last pixel, which a 2× pre-reduction aliases: the corpus's photo of shop signs
loses 0.007 of SSIM at 2.06× headroom and still 0.0045 at 2.6×."""
_WEBP_WHOLE_BYTES = 96 * 1024 * 1024
"""A still WebP is decoded whole up to this many bytes of pixels (32 MP RGB, 24 MP RGBA),
which libwebp does faster than it decodes scaled; a larger one is scaled while decoding, a
few rows at a time."""
_WEBP_HEADROOM = 2.0
"""libwebp scales while decoding by averaging areas, which aliases less than a JPEG's DCT
scaling: that photo of shop signs as a WebP stays within 0.0015 at 2×, loses 0.0025 at
1.5× and 0.006 at 1× (where libvips' own thumbnail decodes it)."""


@contextmanager
def _decoding(fmt: Format, what: str, pixels: int = 0) -> Iterator[None]:
    """Whatever a decoder raises on damaged input becomes `InvalidImage`.

    Pillow, libtiff, libavif and libheif raise OSError, SyntaxError, ValueError, EOFError,
    IndexError, struct.error, RuntimeError (libavif, libheif), TypeError and, where warnings
    are errors, UserWarning for a damaged tag; none of that may escape to a worker.
    Running out of memory while decoding `pixels` is `TooLarge`."""
    too_large = f"this {fmt.extension.upper()} image needs too much memory"
    try:
        yield
    except DarkroomError:
        raise
    except MemoryError:
        raise TooLarge(too_large) from None
    except Exception as exc:
        said = str(exc)
        if any(words in said.lower() for words in _OUT_OF_MEMORY):
            raise TooLarge(too_large) from None
        if any(words in said for words in _NO_PICTURE) and _memory_short(pixels):
            raise TooLarge(too_large) from None
        raise InvalidImage(f"{what} this {fmt.extension.upper()} image: {_said(exc)}") from None


_OUT_OF_MEMORY = ("out of memory", "insufficient memory", "memory allocation error")
"""What libvips, libjpeg, libavif ("Out of memory") and libheif ("Memory allocation error")
say of an allocation that failed (none of them is a MemoryError), in lower case."""
_NO_PICTURE = (
    "Decoding of color planes failed",
    "Decoding of alpha plane failed",
    "did not give a decompressed image",
)
"""What libavif and libheif say when their codec (dav1d, libde265) gave no picture: of
damaged data, or of an allocation the codec was refused, which neither tells apart."""
_PROBE_BYTES_PER_PIXEL = 4


def _memory_short(pixels: int) -> bool:
    """Whether the memory for `pixels` as RGBA (about what a codec's planes and the decoded
    image take) cannot be had now: asked for, never touched, so nothing is spent."""
    try:
        np.empty(pixels * _PROBE_BYTES_PER_PIXEL, np.uint8)
    except MemoryError:
        return True
    return False


_PILLOW_STATUS = re.compile(r"decoder error -?[0-9]+")


def _said(exc: Exception) -> str:
    """What the decoder said; for Pillow's bare status code (libtiff's own words go to
    stderr), what it means."""
    text = str(exc)
    return "its data is damaged" if _PILLOW_STATUS.fullmatch(text) else text


def probe(data: bytes, limits: Limits) -> ImageInfo:
    image, fmt = _open(data, limits)
    with image:
        return _info(image, fmt, include_gps=False)


def develop(
    data: bytes,
    specs: Sequence[VariantSpec],
    limits: Limits,
    include_gps: bool,
    watermark: Watermark | None = None,
) -> Developed:
    image, fmt = _open(data, limits)
    # `close`, not `with`: Pillow's `with` closes the file and keeps the decoded pixels,
    # which the variants no longer need (400 MB at 100 MP).
    with closing(image):
        info = _info(image, fmt, include_gps)
        orientation = _orientation(image)
        sizes = [fit(info.width, info.height, spec) for spec in specs]
        stored = [_as_stored(size, orientation) for size in sizes]
        with _decoding(fmt, "cannot decode", info.width * info.height):
            decoded, icc = _decode(image, data, fmt, stored, _headroom(info))
    # PNG and large WebPs stream from their decoder (`vipsload`): what it finds damaged on
    # the way surfaces while resizing.
    with _decoding(fmt, "cannot decode"):
        # Every variant is to be flattened onto white. Flattening first commutes with
        # resizing (both are linear in premultiplied colour), and the flattened image is
        # resampled as an opaque one: not each variant from the full image, premultiplied.
        # Not where colours are converted: white is blended in sRGB, as a page shows it.
        flattens = _bands(decoded) == 4 and _only_jpeg(specs) and _to_srgb(icc, 4) is None
        start, sequential, premultiplied = _start(decoded, premultiply=not flattens)
        alpha = start.bands == 4
        if alpha and flattens:
            start = start.flatten(background=[255, 255, 255], max_alpha=255).copy_memory()
        # Colour is converted on the variants, a fraction of the decoded pixels; a grey
        # image's through its grey profile (Photoshop's "Dot Gain 20%", "Gray Gamma 1.8").
        convert = _to_srgb(icc, start.bands)
        variants = cascade(start, sizes, orientation, sequential, convert, premultiplied)
    finished = [
        _marked(spec, variant, watermark) for spec, variant in zip(specs, variants, strict=True)
    ]
    rendered = tuple(encode(spec, variant) for spec, variant in zip(specs, finished, strict=True))
    smallest = min(finished, key=lambda p: p.shape[0] * p.shape[1], default=None)
    return Developed(
        info=_with_alpha(info, alpha),
        variants=rendered,
        blurhash="" if smallest is None else placeholder(smallest),
    )


def _start(decoded: pyvips.Image | Pixels, premultiply: bool) -> tuple[pyvips.Image, bool, bool]:
    """The image the variants start from, whether it is sequential (a decoder's image, read
    top to bottom once), and whether it is premultiplied: an opaque image without its
    alpha; a transparent one, where asked to `premultiply`, premultiplied once, in memory,
    as every transparent variant starts from it. Without a second copy of the pixels
    (800 MB at 100 MP, where the decoded image and its premultiplied copy took 1.2 GB with a
    45-byte GIF): a decoder's image is premultiplied as it is read, and its alpha checked on
    that (it is the decoder's); an array of the decode's own, in place. One to be flattened
    is not premultiplied: read whole for the check, it is flattened from memory in one pass.
    (libvips' `copy_memory` of an array's image would hand back the same memory, without
    the reference that keeps the array alive.)"""
    if isinstance(decoded, np.ndarray):
        sequential = False
        start = from_array(decoded)
        if (
            premultiply
            and start.bands == 4
            and decoded.flags.writeable
            and decoded[:, :, 3].min() < 255
        ):
            resample.premultiply_in_place(decoded, _BAND_BYTES)
            return start, False, True
    else:
        start = decoded
        # a transparent one is read whole here, for its alpha
        sequential = start.bands != 4
        if start.bands == 4:
            if not premultiply:
                start = start.copy_memory()
            else:
                start = resample.premultiplied(start)
                if start.extract_band(3).min() < 255:
                    return start, False, True
    if start.bands == 4 and start.extract_band(3).min() == 255:
        # Opaque: premultiplied colours are the colours.
        return start.extract_band(0, n=3), sequential, False
    return start, sequential, False


def _bands(decoded: pyvips.Image | Pixels) -> int:
    if isinstance(decoded, np.ndarray):
        return 1 if decoded.ndim == 2 else int(decoded.shape[2])
    return int(decoded.bands)


_CMS_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
"""LittleCMS's name for the pixels `_decode` gives, by their number of bands."""


def _to_srgb(icc: bytes | None, bands: int) -> Callable[[Pixels], Pixels] | None:
    """The conversion of variants of `bands` bands from the profile `icc` to sRGB, if any.
    A grey image with transparency comes decoded as RGBA (grey and alpha, a grey PNG's
    tRNS, 16-bit grey and alpha through libvips, a HEIC), and as RGB where that alpha is
    opaque: its grey profile builds no transform of RGB, and was ignored (Gray Gamma 1.8's
    mid grey came out 18 levels too dark). Its greys are converted through that profile."""
    transform = srgb_transform(icc, _CMS_MODES[bands])
    if transform is not None:
        return functools.partial(converted, transform=transform)
    grey = srgb_transform(icc, "L") if bands > 1 else None
    return None if grey is None else functools.partial(greys_converted, transform=grey)


def _only_jpeg(specs: Sequence[VariantSpec]) -> bool:
    return bool(specs) and all(output_format(spec, alpha=True) == "jpeg" for spec in specs)


def _marked(spec: VariantSpec, pixels: Pixels, watermark: Watermark | None) -> Pixels:
    if watermark is None or spec.name not in watermark.variants:
        return pixels
    return apply(watermark, pixels)


def _headroom(info: ImageInfo) -> float:
    camera = "camera_make" in info.metadata or "camera_model" in info.metadata
    return _CAMERA_HEADROOM if camera else _HEADROOM


def _decode(
    image: Image.Image,
    data: bytes,
    fmt: Format,
    sizes: Sequence[tuple[int, int]],
    headroom: float,
) -> tuple[pyvips.Image | Pixels, bytes | None]:
    """The first frame as 8-bit grey, RGB or RGBA (a decoder's image, or an array), and the
    ICC profile it is still in. Decoded with as few pixels as the largest size needs (times
    a headroom) where the format can scale while decoding (JPEG, WebP), all of them
    otherwise."""
    icc = image.info.get("icc_profile")
    if fmt is AVIF and not icc:
        code_points = avif.colour_code_points(data)
        icc = None if code_points is None else nclx_profile(*code_points)
    if fmt is JPEG and sizes:
        widest = (
            round(max(w for w, _ in sizes) * headroom),
            round(max(h for _, h in sizes) * headroom),
        )
        if image.mode in ("RGB", "L"):
            progressive = bool(image.info.get("progressive") or image.info.get("progression"))
            scaled = decode_scaled(data, image.mode, widest, progressive)
            if scaled is not None:
                return scaled, icc
        # CMYK, and sampling factors libjpeg-turbo decodes only through libjpeg's own API
        image.draft(image.mode if image.mode == "CMYK" else None, widest)
    if fmt is WEBP:
        whole = libwebp.decode(data, _WEBP_WHOLE_BYTES)
        if whole is not None:
            return whole, icc
        return vipsload.load_webp(data, _decode_scale(image.size, sizes, _WEBP_HEADROOM))
    if fmt is PNG:
        code_points = _png_code_points(data)
        described = None if code_points is None else nclx_profile(*code_points)
        icc = described or icc
        if _streams(data):
            decoded, own = vipsload.load(data)
            return decoded, described or own
    if fmt is HEIF:
        # pillow-heif hands its buffer over without the copy Pillow's would cost.
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        icc = heif.info.get("icc_profile")
        nclx = heif.info.get("nclx_profile")
        if not icc and nclx:
            icc = nclx_profile(nclx["color_primaries"], nclx["transfer_characteristics"])
        return np.asarray(heif), icc
    image.seek(0)
    frame = _opaque_frame_short_of_its_screen(image) if fmt is GIF else None
    if frame is not None:
        return _outside_cleared(_pixels(image, _as_rgba), frame), icc
    loaded = _load_into_array(image)
    if loaded is not None:
        return loaded, icc
    if image.mode in _PIXELWISE_MODES:
        # Grey and alpha is made RGBA, which an RGB profile would convert: that profile is
        # of another colour space than the greys, ignored as it is where they have no alpha.
        grey = image.mode in ("LA", "La")
        return _pixels(image, _normalise), icc if not grey or is_grey_profile(icc) else None
    normal = _normalise(image)
    if normal.mode == "CMYK":  # no CMYK past this point: converted here, whole
        return _pixels(cmyk_to_srgb(normal, icc)), None
    return _pixels(normal), icc


def _opaque_frame_short_of_its_screen(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box of a GIF's first frame where it leaves part of the screen uncovered and has no
    transparent colour to fill the rest with. Pillow fills the rest with palette index 0 (a
    colour of the picture, or black), where browsers show the page through it."""
    box = getattr(image, "dispose_extent", None)
    if "transparency" in image.info or not isinstance(box, tuple):
        return None
    return None if box == (0, 0, *image.size) else box


def _as_rgba(image: Image.Image) -> Image.Image:
    return image.convert("RGBA")


def _outside_cleared(pixels: Pixels, box: tuple[int, int, int, int]) -> Pixels:
    """RGBA `pixels` transparent outside `box`."""
    if not pixels.flags.writeable:  # Pillow's own memory: a small image, converted whole
        pixels = pixels.copy()
    left, top, right, bottom = box
    pixels[:top, :, 3] = 0
    pixels[bottom:, :, 3] = 0
    pixels[:, :left, 3] = 0
    pixels[:, right:, 3] = 0
    return pixels


def _load_into_array(image: Image.Image) -> Pixels | None:
    """An RGBA or grey image's pixels decoded by Pillow straight into an array of their own,
    which Pillow stores as an array does; None for any other or a TIFF Pillow turns as it
    loads it, left unloaded, or where the loader put the pixels elsewhere, loaded. Loaded
    into Pillow's memory, they were copied into the array beside it (a peak of 826 MB at
    100 MP for an interlaced 16-bit RGBA PNG, 530 MB this way)."""
    if image.mode not in ("RGBA", "L") or not isinstance(image, ImageFile.ImageFile):
        return None
    if not image.tile:  # decoded already (a TIFF through libvips)
        return None
    if _turned_on_load(image) != 1:
        # Pillow decodes it at its stored size, then turns it into memory of its own: an
        # array of its upright size took a quarter turn's decode as damage ("tile cannot
        # extend outside image").
        return None
    width, height = image.size
    bands = len(image.getbands())
    # zeros, as Pillow's own memory starts: a decoder may leave pixels unwritten (a GIF's
    # frame smaller than its screen)
    pixels: Pixels = np.zeros((height, width, bands) if bands > 1 else (height, width), np.uint8)
    target = Image.frombuffer(image.mode, image.size, pixels, "raw", image.mode, 0, 1)
    image.im = target.im
    image.load()
    return pixels if image.im is target.im else None


def _png_code_points(data: bytes) -> tuple[int, int] | None:
    """The colour primaries and transfer characteristics (ITU-T H.273) of a PNG's cICP
    chunk, which PNG's third edition puts before any ICC profile, as browsers read it;
    None where there is none before the pixels. Neither Pillow nor libvips reads it."""
    pos = _PNG_SIGNATURE_BYTES
    while pos + _PNG_CHUNK_BYTES <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            return None
        if kind == b"cICP" and length == 4 and pos + _PNG_CHUNK_BYTES + length <= len(data):
            return data[pos + 8], data[pos + 9]
        pos += _PNG_CHUNK_BYTES + length
    return None


_PNG_SIGNATURE_BYTES = 8
_PNG_CHUNK_BYTES = 12
"""A chunk's length, type and checksum."""


def _streams(data: bytes) -> bool:
    """Whether a PNG is decoded by libvips, read top to bottom once. Not an interlaced PNG
    of 16 bits a sample (its header's bit depth and interlace method): libvips holds it
    whole at 16 bits (800 MB at 100 MP with alpha) before making it 8-bit, where Pillow
    decodes it to 8 bits."""
    return not (len(data) > 28 and data[24] == 16 and data[28] == 1)


_WHOLE_COPY_BYTES = 64 * 1024 * 1024
_BAND_BYTES = 4 * 1024 * 1024
_PIXELWISE_MODES = frozenset({"P", "PA", "LA", "La", "RGBa", "1"})
"""Modes `_normalise` converts pixel by pixel (not by the whole image's extremes), so as
well a band of rows at a time."""


def _pixels(
    image: Image.Image, convert: Callable[[Image.Image], Image.Image] | None = None
) -> Pixels:
    """A Pillow image's pixels as an array, through `convert` (a pixel-by-pixel conversion).
    NumPy's own route (`tobytes`) holds them twice while it joins the pieces, and a whole
    conversion holds them once more: a big image is converted and copied a band of rows at a
    time instead (400 MB less at 100 MP, 800 MB less for a palette image made RGBA)."""
    width, height = image.size
    top_row = image.crop((0, 0, width, 1))
    bands = len((top_row if convert is None else convert(top_row)).getbands())
    if width * height * bands <= _WHOLE_COPY_BYTES:
        return np.asarray(image if convert is None else convert(image))
    pixels: Pixels = np.empty((height, width, bands) if bands > 1 else (height, width), np.uint8)
    rows = max(1, _BAND_BYTES // (width * bands))
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        pixels[top : top + rows] = np.asarray(band if convert is None else convert(band))
    return pixels


def _decode_scale(
    stored: tuple[int, int], sizes: Sequence[tuple[int, int]], headroom: float
) -> float:
    """The fraction of the stored size that gives the largest size its headroom."""
    if not sizes:
        return 1.0
    need = max(max(w / stored[0], h / stored[1]) for w, h in sizes) * headroom
    return min(1.0, need)


def _as_stored(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def fit(width: int, height: int, spec: VariantSpec) -> tuple[int, int]:
    """The largest size within the spec's box with the image's aspect, never upscaled."""
    scale = 1.0
    if spec.width is not None:
        scale = min(scale, spec.width / width)
    if spec.height is not None:
        scale = min(scale, spec.height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _open(data: bytes, limits: Limits) -> tuple[Image.Image, Format]:
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the file is {len(data)} bytes; the limit is {limits.max_bytes}")
    fmt = detect(data[:SNIFF_BYTES])
    # Before Pillow reads the header: some headers alone take it seconds (see `integrity`).
    with _decoding(fmt, "cannot read the structure of"):
        check_container(data, fmt, limits.max_frames, limits.memory_budget)
    fields = tiff_first_values(data) if fmt is TIFF else {}
    unread = _UNREAD_COMPRESSIONS.get(fields.get(_COMPRESSION, 1))
    if fmt is TIFF and unread is not None:
        # Neither libtiff (Pillow's, libvips') has these codecs: the file is not damaged.
        raise Unsupported(f"TIFFs compressed with {unread} are not supported")
    if fmt is TIFF and _pillow_misreads(fields):
        image = _tiff_through_libvips(data, fields, limits)
    else:
        image = _pillow_open(data, fmt, fields, limits)
    try:
        _check_size(*image.size, limits)
        frames = _frames(image, fmt)
        if frames > limits.max_frames:
            raise TooLarge(f"{frames} frames is over the limit of {limits.max_frames}")
    except BaseException:
        image.close()
        raise
    return image, fmt


def _pillow_open(
    data: bytes, fmt: Format, tiff_fields: dict[int, int], limits: Limits
) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[fmt.name])
    except UnidentifiedImageError:
        if fmt is not TIFF:
            raise InvalidImage(f"the {fmt.extension.upper()} header cannot be read") from None
        return _tiff_through_libvips(data, tiff_fields, limits)
    except MemoryError:
        raise TooLarge(f"this {fmt.extension.upper()} image needs too much memory") from None
    except Exception as exc:  # whatever a decoder raises on a damaged header, see `_decoding`
        if "Decompressed data too large" in str(exc):  # Pillow's bound on PNG metadata
            raise TooLarge(
                f"a profile or text chunk of this {fmt.extension.upper()} image inflates to"
                f" over {PngImagePlugin.MAX_TEXT_CHUNK:,} bytes"
            ) from None
        if fmt is BMP and _BMP_LAYOUT in str(exc):
            raise Unsupported(
                "this BMP's channel layout is not supported (such as A4R4G4B4 or"
                " A2R10G10B10): save it as PNG"
            ) from None
        raise InvalidImage(f"the {fmt.extension.upper()} header is damaged: {exc}") from None


_BMP_LAYOUT = "Unsupported BMP bitfields layout"
"""What Pillow says of a valid BMP whose channel masks it has no reader for: it reads the
common 16- and 32-bit ones (5-6-5, 5-5-5, 8-8-8-8) only."""


def _check_size(width: int, height: int, limits: Limits) -> None:
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels")
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise TooLarge(
            f"{width}×{height} pixels is over the limit of {limits.max_pixels:,} pixels"
            f" and {limits.max_side:,} pixels a side"
        )


_BITS_PER_SAMPLE, _PHOTOMETRIC, _ICC_LAB, _ITU_LAB = 258, 262, 9, 10
_PLANAR_CONFIGURATION, _PLANAR, _SAMPLE_FORMAT, _UNSIGNED, _SIGNED, _FLOAT = 284, 2, 339, 1, 2, 3
_ORIENTATION = 274
_COMPRESSION, _WEBP_COMPRESSION = 259, 50001
_EXTRA_SAMPLES, _ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA = 338, 1, 2
_UNREAD_COMPRESSIONS = {
    34887: "LERC",
    50002: "JPEG XL",
    52546: "JPEG XL",
    34712: "JPEG 2000",
    33003: "JPEG 2000",
    33005: "JPEG 2000",
    34661: "JBIG",
}
"""Compression schemes neither decoder reads (zstd, LZMA and WebP they do). Such a TIFF
failed as damaged ("its data is damaged", or libvips' "LERC compression support is not
configured" three times over)."""


def _pillow_misreads(fields: dict[int, int]) -> bool:
    """TIFF layouts Pillow opens and cannot decode (WebP-compressed) or reads wrong:
    planar ones (it put 16-bit planes into the wrong channels, and refused extra channels),
    32-bit unsigned samples (read as signed ones) and signed samples (8-bit ones read as
    unsigned: -1 became 255, white). libvips reads the sign, and `vipsload.upright_8bit`
    refuses signed samples: elevation maps and other measurements, with no tone of their
    own to show."""
    if fields.get(_COMPRESSION) == _WEBP_COMPRESSION:
        # Pillow's libtiff is built without WebP ("decoder error -2", which read as
        # damaged data); libvips' has it, and writes such TIFFs itself.
        return True
    planar = fields.get(_PLANAR_CONFIGURATION) == _PLANAR
    sample_format = fields.get(_SAMPLE_FORMAT, _UNSIGNED)
    unsigned = sample_format == _UNSIGNED
    return planar or sample_format == _SIGNED or (unsigned and fields.get(_BITS_PER_SAMPLE) == 32)


def _tiff_through_libvips(data: bytes, fields: dict[int, int], limits: Limits) -> Image.Image:
    """A TIFF whose layout Pillow does not read (CMYK with alpha, 16-bit or float Lab,
    16-bit grey with alpha) or reads wrong (`_pillow_misreads`), decoded by libvips to
    8-bit, with CMYK and Lab converted to sRGB, and turned upright."""
    try:
        # Read once, top to bottom, where nothing turns the page and no float samples are
        # measured first: libvips then holds a few strips, not the whole page (a 100 MP
        # 16-bit CMYK page with alpha took 1.45 GB, read in any order).
        in_order = fields.get(_ORIENTATION, 1) == 1 and fields.get(_SAMPLE_FORMAT) != _FLOAT
        page = vipsload.first_page(data, in_order)
    except pyvips.Error:
        raise InvalidImage("the TIFF header cannot be read") from None
    _check_size(page.width, page.height, limits)
    if fields.get(_PHOTOMETRIC) in (_ICC_LAB, _ITU_LAB):
        raise Unsupported("TIFFs in ICC or ITU Lab colours are not supported")
    # Only an extra channel the file calls alpha is one: Photoshop keeps spot colours there
    alpha = fields.get(_EXTRA_SAMPLES) in (_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA)
    with _decoding(TIFF, "cannot decode"):
        pixels, icc = vipsload.upright_8bit(page, alpha)
        image = Image.fromarray(pixels)
    if icc is not None:
        image.info["icc_profile"] = icc
    _keep_exif(image, data)
    return image


def _keep_exif(image: Image.Image, data: bytes) -> None:
    """The TIFF's EXIF, for the summary, read by Pillow as an EXIF block (which is laid out
    as a TIFF is), without its orientation: libvips has turned the pixels."""
    exif = image.getexif()
    try:
        exif.load(data)
        exif.pop(ExifTags.Base.Orientation, None)
    except Exception:  # a damaged EXIF block must not cost the photo, as in `summarize`
        exif.load(b"")


def _frames(image: Image.Image, fmt: Format) -> int:
    with _decoding(fmt, "cannot count the frames of"):
        return int(getattr(image, "n_frames", 1))


def _info(image: Image.Image, fmt: Format, include_gps: bool) -> ImageInfo:
    width, height = image.size
    if _orientation(image) in (5, 6, 7, 8) or _turned_by_its_xmp(image):
        width, height = height, width
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        frames=_frames(image, fmt),
        has_alpha=image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info,
        metadata=summarize(image, include_gps),
    )


def _turned_by_its_xmp(image: Image.Image) -> bool:
    """Whether Pillow turns a TIFF a quarter as it loads it by the orientation in its XMP
    (`exif_transpose` reads it there where the TIFF has no orientation tag). Pillow tells
    the size of a TIFF turned by its tag already turned, not one turned by its XMP: its
    variants were sized for the stored shape and came out squeezed."""
    tags = getattr(image, "tag_v2", None)
    return tags is not None and _ORIENTATION not in tags and _turned_on_load(image) in (5, 6, 7, 8)


def _turned_on_load(image: Image.Image) -> int:
    """The orientation Pillow applies to a TIFF as it loads it (its tag's, else its XMP's);
    1 for any other image, or where the EXIF cannot be read ("as stored", as in
    `_orientation`)."""
    if image.format != "TIFF":
        return 1
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def _with_alpha(info: ImageInfo, alpha: bool) -> ImageInfo:
    return ImageInfo(info.format, info.width, info.height, info.frames, alpha, info.metadata)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation darkroom still has to apply: Pillow turns a TIFF as it loads,
    and libheif a HEIC as its `irot` and `imir` say. HEIF (and so AVIF) ignores EXIF's and
    XMP's orientation, and Pillow states an AVIF's `irot` and `imir` as its EXIF orientation
    (in place of the EXIF block's own): an AVIF's is read from that block alone, never from
    XMP, where Pillow looks when the block has none (a HEIC's XMP orientation that
    pillow-heif did not clear, or an AVIF's beside no `irot`, turned it a second time)."""
    if image.format in ("TIFF", "HEIF"):
        return 1
    try:
        if image.format == "AVIF":
            exif = Image.Exif()
            exif.load(image.info.get("exif") or b"")
        else:
            exif = exif_of(image)
        value = exif.get(0x0112, 1)
    except Exception:  # a damaged EXIF block means "as stored"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _normalise(image: Image.Image) -> Image.Image:
    """Any decoded mode to 8-bit L, RGB, RGBA or CMYK."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16 bits a sample (mode "I" too, unless its values fit in 8 bits): keep the high
        # byte, of as many bits as a TIFF says it holds (a 12-bit scan comes as "I;16")
        divisor = 2 ** (_bits_per_sample(image) - 8)
        if mode != "I":  # converting to its own mode would copy it (400 MB at 100 MP)
            image = image.convert("I")
        _, high = image.getextrema()
        if mode != "I" or (isinstance(high, int | float) and high > 255):
            image = image.point(lambda v: v / divisor)
        image = image.convert("L")
    elif mode == "F":
        _, high = image.getextrema()
        if isinstance(high, float) and high <= 1.0:  # samples from 0 to 1, as most tools write
            image = image.point(lambda v: v * 255)
        image = image.convert("L")
    elif mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    elif mode in ("LA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGB")
    return image


def _bits_per_sample(image: Image.Image) -> int:
    """9 to 16, as a TIFF's BitsPerSample says; 16 otherwise."""
    tags = getattr(image, "tag_v2", None)
    bits = tags.get(258) if tags is not None else None
    first = bits[0] if isinstance(bits, tuple) and bits else bits
    return first if isinstance(first, int) and 8 < first <= 16 else 16
