"""JPEG decoded by libjpeg-turbo (simplejpeg), scaled while decoding."""

from __future__ import annotations

import re
import threading

import simplejpeg

from darkroom.errors import InvalidImage
from darkroom.imaging.resample import Pixels


def decode_scaled(
    data: bytes, mode: str, at_least: tuple[int, int], progressive: bool
) -> Pixels | None:
    """Grey where `mode` is Pillow's "L", RGB otherwise, decoded at the smallest of 1/8,
    1/4, 1/2 or full size that is at least `at_least`.
    libjpeg-turbo scales to any eighth, but only these four have SIMD inverse DCTs: the
    others (3/8, 5/8, 6/8, 7/8) decode slower than the full size, and look worse.
    None for a JPEG whose sampling factors TurboJPEG's API has no name for (see
    `_UNNAMED_SAMPLING`): libjpeg decodes it, through Pillow."""
    try:
        height, width = simplejpeg.decode_jpeg_header(data)[:2]
    except ValueError as exc:
        if _UNNAMED_SAMPLING in str(exc):
            return None
        if "bad ICC marker" not in str(exc):
            raise
        # Misnumbered profile segments, which browsers ignore (the profile is read from
        # Pillow, which drops one whose segment count is wrong): hidden from libjpeg-turbo.
        data = _ICC_SEGMENT.sub(b"\\1ICC_IGNORED\x00", data)
        height, width = simplejpeg.decode_jpeg_header(data)[:2]
    divisor = 8
    while divisor > 1 and (
        -(-width // divisor) < at_least[0] or -(-height // divisor) < at_least[1]
    ):
        divisor //= 2
    ended = data.endswith(b"\xff\xd9")
    if not progressive and not ended:
        # Some cameras and apps leave the end marker out. With it added, a complete scan
        # decodes as every viewer shows it, and one cut short still ends early. Not in a
        # progressive JPEG: one cut between two scans would pass for a complete photo.
        data += b"\xff\xd9"

    # libjpeg-turbo's scaled size, rounded up: the smallest simplejpeg is asked for
    at = {"min_width": -(-width // divisor), "min_height": -(-height // divisor)}
    buffer = _decode_buffer(at["min_width"] * at["min_height"] * (1 if mode == "L" else 3))

    def decoded(strict: bool) -> Pixels:
        pixels: Pixels = simplejpeg.decode_jpeg(
            data,
            colorspace="GRAY" if mode == "L" else "RGB",
            buffer=buffer,
            strict=strict,
            **at,
        )
        return pixels[:, :, 0] if mode == "L" else pixels

    try:
        return decoded(strict=True)
    except ValueError as exc:
        message = str(exc)
        if "premature end" in message.lower():
            raise InvalidImage("cannot decode this JPG image: the file is truncated") from None
        if "extraneous bytes" not in message or not ended:
            raise
    # Stray bytes between segments (some cameras write them before the end marker), which
    # every decoder skips: decoded again, past that warning, in a file that is not cut short.
    return decoded(strict=False)


_UNNAMED_SAMPLING = "Could not determine subsampling level"
"""What TurboJPEG says of sampling factors other than those of 4:4:4, 4:2:2, 4:2:0, 4:4:0,
4:1:1 and grey, written as they usually are: 3×1 or 4×2 luma, chroma sampled finer than
luma, or 4:2:2 written as 4×1 luma over 2×1 chroma. Valid JPEGs, which libjpeg itself
decodes (it scales them too)."""
_ICC_SEGMENT = re.compile(rb"(\xff\xe2..)ICC_PROFILE\x00", re.DOTALL)
"""An APP2 segment's marker, length and the name of an ICC profile segment."""
_KEPT_BUFFER_BYTES = 64 * 1024 * 1024
_buffers = threading.local()


def _decode_buffer(size: int) -> bytearray | None:
    """Memory for this thread's next JPEG decode, kept for the one after: fresh memory
    costs a page fault every 4 KB, 18 ms for a whole 12 MP photo (36 MB). None beyond
    64 MB, which is not kept. Every variant is made into memory of its own, and nothing
    past `develop` holds the decoded pixels."""
    if size > _KEPT_BUFFER_BYTES:
        return None
    kept: bytearray | None = getattr(_buffers, "kept", None)
    if kept is None or len(kept) < size:
        kept = _buffers.kept = bytearray(size)
    return kept
