"""Embedded colour profiles to sRGB, through LittleCMS (Pillow's ImageCms).

Transforms are built once per profile and kept for the next photo from the same camera.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections import OrderedDict

import numpy as np
import pyvips
from PIL import Image, ImageCms

from darkroom.imaging.resample import Pixels

_SRGB = ImageCms.createProfile("sRGB")
_MAX_PROFILE_BYTES = 4 * 1024 * 1024
"""Firefox's colour management (qcms) reads no larger profile, and shows the image as if it
had none. Camera and editor profiles take a few kilobytes, printers' up to a megabyte or
two; a 41 MB one (a 190³ lookup table) took LittleCMS 150 MB more to read, to build a
transform of nothing a photo needs."""
_KEPT_TRANSFORMS = 16
_TRANSFORMS: OrderedDict[tuple[bytes, str], ImageCms.ImageCmsTransform | None] = OrderedDict()
_TRANSFORMS_LOCK = threading.Lock()


def srgb_transform(icc: bytes | None, mode: str) -> ImageCms.ImageCmsTransform | None:
    """From the image's profile to sRGB (`mode` to RGB or RGBA; grey "L" and "CMYK" to RGB);
    None where there is nothing to convert (no profile, one that leaves sRGB as it is) or the
    profile is broken or of another colour space than the pixels (the pixels are shown as
    they are, rather than failing the photo).

    Kept for the next photo from the same camera (building one costs several
    milliseconds), under the profile's digest: the profile is the upload's to choose, and
    may be megabytes. Built without LittleCMS's one-pixel cache, which would make sharing
    it between threads unsafe. A profile over `_MAX_PROFILE_BYTES` is ignored, as
    Firefox ignores it."""
    if not icc or len(icc) > _MAX_PROFILE_BYTES:
        return None
    key = (hashlib.sha256(icc).digest(), mode)
    with _TRANSFORMS_LOCK:
        if key in _TRANSFORMS:
            _TRANSFORMS.move_to_end(key)
            return _TRANSFORMS[key]
    transform = _build_transform(icc, mode)
    with _TRANSFORMS_LOCK:
        _TRANSFORMS[key] = transform
        while len(_TRANSFORMS) > _KEPT_TRANSFORMS:
            _TRANSFORMS.popitem(last=False)
    return transform


def _build_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    if _cut_short(icc) or _too_many_steps(icc):
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(
            source,
            _SRGB,
            mode,
            "RGB" if mode in ("CMYK", "L") else mode,
            flags=ImageCms.Flags.NOCACHE,
        )
        # Judged by what it does, not by its name: "GIMP built-in Linear sRGB" and
        # "sRGB-elle-V2-g10" are linear-light profiles whose names say sRGB (their pixels,
        # left as they are, came out 73 levels too dark).
        return None if _leaves_srgb_alone(transform, mode) else transform
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


_PROBE_LEVELS = np.arange(0, 256, 17, dtype=np.uint8)
_RGB_PROBE = np.stack(np.meshgrid(*[_PROBE_LEVELS] * 3, indexing="ij"), -1).reshape(64, 64, 3)
"""Colours a transform is tried on: 16 levels of each channel, every combination."""
_UNCHANGED_LEVELS = 2
"""What an sRGB profile's transform may move a colour by and still count as doing nothing:
the usual "sRGB IEC61966-2.1" (its curve a table) moves some by 1."""


def _leaves_srgb_alone(transform: ImageCms.ImageCmsTransform, mode: str) -> bool:
    """Whether `transform` changes no colour of its probe by more than `_UNCHANGED_LEVELS`:
    the image is in sRGB already, and converting its variants would only cost time."""
    probe: np.ndarray
    if mode == "L":
        probe = _PROBE_LEVELS.reshape(1, -1)
        expected = np.repeat(probe[..., None], 3, axis=2)
    elif mode in ("RGB", "RGBA"):
        expected = _RGB_PROBE
        probe = _RGB_PROBE if mode == "RGB" else np.dstack([_RGB_PROBE, np.full((64, 64), 255)])
    else:  # CMYK
        return False
    out = ImageCms.applyTransform(Image.fromarray(probe.astype(np.uint8)), transform)
    if out is None:
        return False
    moved = np.abs(np.asarray(out)[..., :3].astype(np.int16) - expected)
    return int(moved.max()) <= _UNCHANGED_LEVELS


def _cut_short(icc: bytes) -> bool:
    """Whether the profile's header states more bytes than it has. Chrome's colour
    management (skcms) ignores such a profile, as libpng does; LittleCMS reads what there
    is of it."""
    return len(icc) < 4 or struct.unpack_from(">I", icc)[0] > len(icc)


_MAX_PROFILE_STEPS = 32
_MAX_PROFILE_TAGS = 100
"""LittleCMS reads no more tags than this."""


def _too_many_steps(icc: bytes) -> bool:
    """Whether a float pipeline of the profile (a `mpet` tag, as in v4's D2Bx and B2Dx) has
    more steps than any real profile. LittleCMS runs every step for each point of the table
    it builds a transform from: 10 000 steps, 80 KB of profile, take it 3 s, 100 000 take
    it 86 s."""
    if len(icc) < 132:
        return False
    (tags,) = struct.unpack_from(">I", icc, 128)
    for entry in range(132, 132 + 12 * min(tags, _MAX_PROFILE_TAGS), 12):
        if entry + 12 > len(icc):
            return False
        (offset,) = struct.unpack_from(">I", icc, entry + 4)
        if icc[offset : offset + 4] == b"mpet" and offset + 16 <= len(icc):
            (steps,) = struct.unpack_from(">I", icc, offset + 12)
            if steps > _MAX_PROFILE_STEPS:
                return True
    return False


def is_grey_profile(icc: bytes | None) -> bool:
    """Whether `icc` is a profile of grey colours, as its header says."""
    return icc is not None and icc[16:20] == b"GRAY"


def converted(pixels: Pixels, transform: ImageCms.ImageCmsTransform) -> Pixels:
    """`pixels` through `transform`, in their own shape: grey (2-D, or one band) stays grey."""
    grey = pixels.ndim == 2 or pixels.shape[2] == 1
    image = Image.fromarray(pixels.reshape(pixels.shape[:2]) if grey else pixels)
    converted = ImageCms.applyTransform(image, transform)
    if converted is None:
        return pixels
    if grey:
        # A grey profile's greys are sRGB greys (red, green and blue alike): one channel.
        return np.ascontiguousarray(np.asarray(converted)[:, :, 1]).reshape(pixels.shape)
    return np.asarray(converted)


def greys_converted(pixels: Pixels, transform: ImageCms.ImageCmsTransform) -> Pixels:
    """RGB or RGBA `pixels` whose colour bands are alike (a grey image decoded as colour)
    with their greys through a grey profile's `transform`, alpha kept; any others as they
    are: a grey profile describes no colours (the profile of another colour space than
    the pixels, ignored as `srgb_transform` ignores it)."""
    grey = pixels[:, :, 0]
    if not (np.array_equal(grey, pixels[:, :, 1]) and np.array_equal(grey, pixels[:, :, 2])):
        return pixels
    made = pixels.copy()
    made[:, :, :3] = converted(np.ascontiguousarray(grey), transform)[:, :, None]
    return made


_DISPLAY_P3: bytes = pyvips.Operation.call("profile_load", "p3")
_P3_PRIMARIES = 12
"""ITU-T H.273's code for Display P3's primaries (SMPTE EG 432-1, white D65)."""
_SRGB_LIKE_TRANSFERS = frozenset({1, 2, 6, 13, 14, 15})
"""H.273 transfer characteristics shown with sRGB's curve: sRGB's own, unspecified (sRGB
to libavif and libheif), and BT.709's and its kin, which Chrome shows as sRGB's."""


def nclx_profile(primaries: int, transfer: int) -> bytes | None:
    """The ICC profile of colours an HEIF or AVIF file describes by H.273 code points (an
    `nclx` colour box) in place of a profile, where darkroom converts them: Display P3, as
    browsers convert it (libvips' built-in profile of it). None for any other: BT.709's
    primaries are sRGB's, and the rest (BT.2020, PQ, HLG) are shown as they are."""
    if primaries == _P3_PRIMARIES and transfer in _SRGB_LIKE_TRANSFERS:
        return _DISPLAY_P3
    return None


def cmyk_to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    transform = srgb_transform(icc, "CMYK")
    converted = None if transform is None else ImageCms.applyTransform(image, transform)
    # without a usable profile, Pillow's naive conversion
    return image.convert("RGB") if converted is None else converted
