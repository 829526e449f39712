"""The Pillow engine: shrink-on-load where the format allows it, then one cascade of resizes."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

from darkroom.domain import VariantSpec
from darkroom.errors import DarkroomError, InvalidImage, TooLarge, Unsupported
from darkroom.imaging import Developed, ImageInfo, Limits, Rendered
from darkroom.imaging.formats import JPEG, SNIFF_BYTES, Format, detect
from darkroom.imaging.integrity import check_container
from darkroom.imaging.metadata import summarize

pillow_heif.register_heif_opener()
# darkroom checks its own pixel limit from the header before decoding (see `_open`);
# Pillow's built-in check would only warn below twice its limit.
Image.MAX_IMAGE_PIXELS = None

_SRGB = ImageCms.createProfile("sRGB")
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SHRINK_HEADROOM = 2
"""Decode at least this many times the largest variant, so LANCZOS has pixels to work with."""


@contextmanager
def _decoding(fmt: Format, what: str) -> Iterator[None]:
    """Whatever a decoder raises on damaged input becomes `InvalidImage`.

    Pillow, libtiff, libavif and libheif raise OSError, SyntaxError, ValueError, EOFError,
    IndexError, struct.error, RuntimeError (libavif, libheif), TypeError and, where warnings
    are errors, UserWarning for a damaged tag; none of that may escape to a worker.
    Running out of memory while decoding is `TooLarge`."""
    try:
        yield
    except DarkroomError:
        raise
    except MemoryError:
        raise TooLarge(f"this {fmt.extension.upper()} image needs too much memory") from None
    except Exception as exc:
        raise InvalidImage(f"{what} this {fmt.extension.upper()} image: {exc}") from None


def probe(data: bytes, limits: Limits) -> ImageInfo:
    image, fmt = _open(data, limits)
    with image:
        return _info(image, fmt, include_gps=False)


def develop(
    data: bytes, specs: Sequence[VariantSpec], limits: Limits, include_gps: bool
) -> Developed:
    image, fmt = _open(data, limits)
    with image:
        info = _info(image, fmt, include_gps)
        orientation = _orientation(image)
        targets = [(spec, fit(info.width, info.height, spec)) for spec in specs]
        with _decoding(fmt, "cannot decode"):
            if fmt is JPEG and targets:
                widest = max(size for _, size in targets)
                _draft(image, widest, orientation)
            image.seek(0)
            image.load()
            base = _to_srgb(_normalise(image))
            if orientation in _TRANSPOSE:
                base = base.transpose(_TRANSPOSE[orientation])
    # Nothing of the original's metadata (EXIF, XMP, comments, ICC) rides along into a
    # variant: some encoders copy `info` entries they find (JPEG comments, PNG/AVIF ICC).
    base.info.clear()
    alpha = _has_alpha(base)
    rendered = _cascade(base, targets, alpha)
    return Developed(info=_with_alpha(info, alpha), variants=tuple(rendered))


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
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt.name])
    except UnidentifiedImageError:
        raise InvalidImage(f"the {fmt.extension.upper()} header cannot be read") from None
    except MemoryError:
        raise TooLarge(f"this {fmt.extension.upper()} image needs too much memory") from None
    except Exception as exc:  # whatever a decoder raises on a damaged header, see `_decoding`
        raise InvalidImage(f"the {fmt.extension.upper()} header is damaged: {exc}") from None
    try:
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage("the image has no pixels")
        if width * height > limits.max_pixels or max(width, height) > limits.max_side:
            raise TooLarge(
                f"{width}×{height} pixels is over the limit of {limits.max_pixels:,} pixels"
                f" and {limits.max_side:,} pixels a side"
            )
        check_container(data, fmt)
        frames = _frames(image, fmt)
        if frames > limits.max_frames:
            raise TooLarge(f"{frames} frames is over the limit of {limits.max_frames}")
    except BaseException:
        image.close()
        raise
    return image, fmt


def _frames(image: Image.Image, fmt: Format) -> int:
    with _decoding(fmt, "cannot count the frames of"):
        return int(getattr(image, "n_frames", 1))


def _info(image: Image.Image, fmt: Format, include_gps: bool) -> ImageInfo:
    width, height = image.size
    if _orientation(image) in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        frames=_frames(image, fmt),
        has_alpha=image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info,
        metadata=summarize(image, include_gps),
    )


def _with_alpha(info: ImageInfo, alpha: bool) -> ImageInfo:
    return ImageInfo(info.format, info.width, info.height, info.frames, alpha, info.metadata)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block means "as stored"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft(image: Image.Image, widest: tuple[int, int], orientation: int) -> None:
    width, height = widest
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    mode = image.mode if image.mode in ("RGB", "L", "CMYK") else None
    image.draft(mode, (width * _SHRINK_HEADROOM, height * _SHRINK_HEADROOM))


def _normalise(image: Image.Image) -> Image.Image:
    """Any decoded mode to 8-bit L, RGB or RGBA, keeping its ICC profile in `info`."""
    icc = image.info.get("icc_profile")
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16 bits a sample (mode "I" too, unless its values fit in 8 bits): keep the high byte
        image = image.convert("I")
        _, high = image.getextrema()
        if mode != "I" or (isinstance(high, int | float) and high > 255):
            image = image.point(lambda v: v / 256)
        image = image.convert("L")
    elif mode == "F":
        image = image.convert("L")
    elif mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    elif mode in ("LA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGB")
    if icc:
        image.info["icc_profile"] = icc
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode == "CMYK" or "sRGB" not in ImageCms.getProfileDescription(source):
                out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
                converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=out_mode)
                if converted is not None:
                    return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken profile: show the pixels as they are rather than fail the photo
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _has_alpha(image: Image.Image) -> bool:
    if image.mode != "RGBA":
        return False
    low, _ = image.getchannel("A").getextrema()
    return isinstance(low, int | float) and low < 255


def _cascade(
    base: Image.Image, targets: Sequence[tuple[VariantSpec, tuple[int, int]]], alpha: bool
) -> list[Rendered]:
    """Largest first, each variant resized from the smallest one already made that is big
    enough, so no pixel is resampled from the full image more than once."""
    if not alpha and base.mode == "RGBA":
        base = base.convert("RGB")
    made: list[Image.Image] = [base]
    rendered: dict[int, Rendered] = {}
    largest_first = sorted(
        range(len(targets)), key=lambda i: targets[i][1][0] * targets[i][1][1], reverse=True
    )
    for index in largest_first:
        spec, size = targets[index]
        source = min(
            (m for m in made if m.width >= size[0] and m.height >= size[1]),
            key=lambda m: m.width * m.height,
        )
        resized = source if source.size == size else source.resize(size, Image.Resampling.LANCZOS)
        made.append(resized)
        rendered[index] = _encode(spec, resized, alpha)
    return [rendered[index] for index in range(len(targets))]


def _encode(spec: VariantSpec, image: Image.Image, alpha: bool) -> Rendered:
    fmt = spec.format
    if fmt == "auto":
        fmt = "webp" if alpha else "jpeg"
    out = io.BytesIO()
    if fmt == "jpeg":
        if image.mode == "RGBA":
            image = _flatten(image)
        image.save(out, "JPEG", quality=spec.quality)
        content_type, extension = "image/jpeg", "jpg"
    elif fmt == "webp":
        image.save(out, "WEBP", quality=spec.quality, method=4)
        content_type, extension = "image/webp", "webp"
    elif fmt == "avif":
        image.save(out, "AVIF", quality=spec.quality)
        content_type, extension = "image/avif", "avif"
    elif fmt == "png":
        image.save(out, "PNG")
        content_type, extension = "image/png", "png"
    else:
        raise Unsupported(f"variant {spec.name!r}: unknown output format {fmt!r}")
    return Rendered(spec.name, out.getvalue(), image.width, image.height, content_type, extension)


def _flatten(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background
