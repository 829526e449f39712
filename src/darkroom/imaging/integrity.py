"""Container checks the decoders skip: truncation and checksums, from the bytes alone.

Pillow and libheif decode some damaged files without a word: libheif fills the tiles of a
truncated HEIC with grey, Pillow reads the first frame of a GIF cut short after it and never
checks a PNG's IDAT checksums. These walks see that damage before any pixel is decoded, so
a damaged upload fails as `InvalidImage` instead of becoming variants of garbage.
"""

from __future__ import annotations

import struct
import zlib

from darkroom.errors import InvalidImage
from darkroom.imaging.formats import AVIF, GIF, HEIF, PNG, WEBP, Format

_PNG_SIGNATURE = 8
_PNG_MAX_CHUNK = 2**31 - 1


def check_container(data: bytes, fmt: Format) -> None:
    """Raise `InvalidImage` if `data` is cut short or fails a checksum its format carries."""
    if fmt is PNG:
        _png(data)
    elif fmt is GIF:
        _gif(data)
    elif fmt is HEIF or fmt is AVIF:
        _iso_boxes(data, fmt)
    elif fmt is WEBP:
        _riff(data)


def _truncated(fmt: Format) -> InvalidImage:
    return InvalidImage(f"the {fmt.extension.upper()} file is truncated")


def _png(data: bytes) -> None:
    """Every chunk complete up to IEND; critical chunks (IHDR, PLTE, IDAT) with a good CRC,
    as libpng insists. Ancillary chunks with a bad CRC are left to Pillow."""
    view = memoryview(data)
    size = len(data)
    pos = _PNG_SIGNATURE
    while True:
        if pos + 8 > size:
            raise _truncated(PNG)
        length, kind = struct.unpack_from(">I4s", data, pos)
        if length > _PNG_MAX_CHUNK:
            raise InvalidImage("the PNG file is damaged: a chunk length is out of range")
        end = pos + 12 + length
        if end > size:
            raise _truncated(PNG)
        if not kind[0] & 0x20:  # critical chunk
            (stored,) = struct.unpack_from(">I", data, end - 4)
            if zlib.crc32(view[pos + 4 : end - 4]) != stored:
                raise InvalidImage(f"the PNG file is damaged: bad checksum in a {kind!r} chunk")
        if kind == b"IEND":
            return
        pos = end


def _gif(data: bytes) -> None:
    """Every block complete. A GIF may end without its trailer at a block boundary (browsers
    show those), but not inside a block."""
    size = len(data)
    if size < 13:
        raise _truncated(GIF)
    pos = 13 + _colour_table(data[10])
    while True:
        if pos > size:
            raise _truncated(GIF)
        if pos == size:
            return
        block = data[pos]
        if block == 0x3B:  # trailer
            return
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            if pos + 10 > size:
                raise _truncated(GIF)
            pos = _sub_blocks(data, pos + 10 + _colour_table(data[pos + 9]) + 1)
        else:
            pos += 1  # a stray byte: Pillow skips those too


def _colour_table(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _sub_blocks(data: bytes, pos: int) -> int:
    size = len(data)
    while True:
        if pos >= size:
            raise _truncated(GIF)
        length = data[pos]
        pos += 1 + length
        if length == 0:
            return pos


def _iso_boxes(data: bytes, fmt: Format) -> None:
    """The top-level boxes of a HEIF/AVIF file (ftyp, meta, mdat, ...) all present in full."""
    size = len(data)
    pos = 0
    while pos < size:
        if pos + 8 > size:
            raise _truncated(fmt)
        (length,) = struct.unpack_from(">I", data, pos)
        header = 8
        if length == 1:  # 64-bit size follows the type
            if pos + 16 > size:
                raise _truncated(fmt)
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:  # the last box, to the end of the file
            return
        if length < header:
            raise InvalidImage(f"the {fmt.extension.upper()} file is damaged: a box is too short")
        if pos + length > size:
            raise _truncated(fmt)
        pos += length


def _riff(data: bytes) -> None:
    (length,) = struct.unpack_from("<I", data, 4)
    if len(data) < 8 + length:
        raise _truncated(WEBP)
