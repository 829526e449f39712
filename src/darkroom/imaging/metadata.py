"""A privacy-minded summary of a photo's EXIF: what a gallery shows, nothing that locates."""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from fractions import Fraction

from PIL import ExifTags, Image

from darkroom.domain import MetadataValue

_IFD0 = {ExifTags.Base.Make: "camera_make", ExifTags.Base.Model: "camera_model"}
_EXIF = {
    ExifTags.Base.LensModel: "lens",
    ExifTags.Base.ExposureTime: "exposure_time",
    ExifTags.Base.FNumber: "f_number",
    ExifTags.Base.ISOSpeedRatings: "iso",
    ExifTags.Base.FocalLength: "focal_length",
}


def exif_of(image: Image.Image) -> Image.Exif:
    """The image's EXIF, read without decoding pixels. Pillow's PNG reader decodes the whole
    image to look for an eXIf chunk after the pixels; darkroom reads only one before them,
    where the PNG specification puts it, and what Pillow finds in any image's text (an
    orientation in XMP, ImageMagick's EXIF profile)."""
    if image.format == "PNG" and "exif" not in image.info:
        return Image.Image.getexif(image)
    return image.getexif()


def summarize(image: Image.Image, include_gps: bool = False) -> dict[str, MetadataValue]:
    try:
        exif = exif_of(image)
    except Exception:  # a damaged EXIF block must not cost the photo
        return {}
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # nor a damaged Exif IFD the camera IFD0 names (as in `_gps`)
        sub = {}
    out: dict[str, MetadataValue] = {}
    for tag, name in _IFD0.items():
        _put(out, name, exif.get(tag))
    for tag, name in _EXIF.items():
        _put(out, name, sub.get(tag))
    taken = _taken_at(sub.get(ExifTags.Base.DateTimeOriginal), exif.get(ExifTags.Base.DateTime))
    if taken is not None:
        out["taken_at"] = taken
    if include_gps:
        out.update(_gps(exif))
    return out


def _taken_at(*dates: object) -> str | None:
    """The first of `dates` that is one. An unknown date, blank or zeros as the EXIF
    standard and cameras without a set clock write it, is passed over as a missing one is:
    an unknown DateTimeOriginal left DateTime unread."""
    for date in dates:
        if isinstance(date, str):
            try:
                return datetime.strptime(date.strip("\x00 "), "%Y:%m:%d %H:%M:%S").isoformat()
            except ValueError:
                continue
    return None


_TEXT = {"camera_make", "camera_model", "lens"}
_RANGES: dict[str, tuple[float, float]] = {
    "exposure_time": (0.0, 86_400.0),
    "f_number": (0.0, 1_000.0),
    "iso": (0.0, 10_000_000.0),
    "focal_length": (0.0, 100_000.0),
}
"""What a camera can write for each number, exclusive of the low end and generous at the
high one (seconds, f-stops, ISO, millimetres): EXIF's signed types allow a negative ISO,
LONG8 an ISO of 2**64 - 1 and DOUBLE an exposure of 1e308, none of them a photo's."""


def _put(out: dict[str, MetadataValue], name: str, value: object) -> None:
    if isinstance(value, str | bytes):
        value = _decoded(value)
    if value is not None and isinstance(value, str) != (name in _TEXT):
        return  # a number written as text, or a name as a number: not what a camera wrote
    if isinstance(value, str):
        value = _printable(value)
        if value:
            out[name] = value[:200]
    elif isinstance(value, int):
        if _plausible(name, value):
            out[name] = value
    elif value is not None:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, ZeroDivisionError):
            return
        if _plausible(name, number):  # not NaN from a 0/0 rational, nor an infinite double
            # six significant digits, not decimal places: 1/32000 s is 3.125e-05 s, not
            # 3.1e-05 (1/32258)
            out[name] = float(f"{number:.6g}")


def _decoded(text: str | bytes) -> str:
    """EXIF text as its writer meant it: UTF-8 where its bytes are that, Latin-1 otherwise.
    EXIF says ASCII, and phones and exiftool write UTF-8 there; Pillow reads ASCII fields as
    Latin-1 ("CafÃ©" for "Café"), and hands other types' bytes over as they are."""
    if isinstance(text, bytes):
        raw = text
    else:
        try:
            raw = text.encode("latin-1")  # the bytes Pillow read, back
        except UnicodeEncodeError:  # not Latin-1's reading of bytes: text already
            return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _printable(text: str) -> str:
    """`text` up to the NUL that ends an EXIF string (padding around it aside), without
    control characters: escape sequences a terminal would obey (the CLI and the logs print
    these), and other bytes no camera means as text."""
    text = text.strip("\x00 ").split("\x00", 1)[0]
    return "".join(c for c in text if unicodedata.category(c) != "Cc").strip()


def _plausible(name: str, number: float) -> bool:
    low, high = _RANGES.get(name, (-math.inf, math.inf))
    return math.isfinite(number) and low < number <= high


def _gps(exif: Image.Exif) -> dict[str, MetadataValue]:
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps[ExifTags.GPS.GPSLatitudeRef], "NS")
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps[ExifTags.GPS.GPSLongitudeRef], "EW")
    except Exception:
        # A damaged GPS block must not cost the photo, as in `summarize`: Pillow raises
        # whatever its reader meets (an OverflowError for a block said to be past 2**63).
        return {}
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # not a place on Earth
        return {}
    return {"gps_latitude": lat, "gps_longitude": lon}


def _degrees(dms: tuple[object, object, object], ref: object, hemispheres: str) -> float:
    d, m, s = (Fraction(str(float(x))) for x in dms)  # type: ignore[arg-type]
    if min(d, m, s) < 0:  # signed rationals: the sign is the reference's to say
        raise ValueError(f"a negative part of an angle: {dms!r}")
    value = float(d + m / 60 + s / 3600)
    return round(_sign(ref, hemispheres) * value, 7)


def _sign(ref: object, hemispheres: str) -> int:
    """1 for the first of `hemispheres` ("NS", "EW"), -1 for the second, as `ref` names it.
    Raises for a reference that names neither (empty, "X"): its sign would be a guess, and
    a southern latitude taken as northern a place the photo was not taken. Read loosely
    where the meaning is plain: as bytes (written as BYTE or UNDEFINED), in lower case,
    padded."""
    if isinstance(ref, bytes):
        ref = ref.decode("latin-1")
    letter = ref.strip("\x00 ").upper() if isinstance(ref, str) else ""
    if len(letter) != 1 or letter not in hemispheres:
        raise ValueError(f"the GPS reference {ref!r} names no hemisphere")
    return 1 if letter == hemispheres[0] else -1
