"""Container checks the decoders skip, from the bytes alone: truncation, checksums, and
the work a file's structure asks for beyond its pixel count.

Pillow and libheif decode some damaged files without a word: libheif fills the tiles of a
truncated HEIC with grey, Pillow reads the first frame of a GIF cut short after it and never
checks a PNG's IDAT checksums. These walks see that damage before any pixel is decoded, so
a damaged upload fails as `InvalidImage` instead of becoming variants of garbage.

A small file can also keep a decoder busy for minutes without claiming many pixels:
thousands of scans in a progressive JPEG (libjpeg-turbo decodes each over the whole image),
millions of empty header segments or chunks (Pillow reads headers in Python), hundreds of
thousands of TIFF pages (Pillow counts them in quadratic time), an RLE-compressed BMP
(Pillow decodes those in Python). Those are refused as `TooLarge` before any decoder reads
the file; the bounds are far above what cameras and editors write.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from darkroom.errors import InvalidImage, TooLarge, Unsupported
from darkroom.imaging import avif
from darkroom.imaging.formats import AVIF, BMP, GIF, HEIF, JPEG, PNG, TIFF, WEBP, Format

_PNG_SIGNATURE = 8
_PNG_MAX_CHUNK = 2**31 - 1
_PNG_MAX_CHUNKS = 1 << 17
"""Encoders write the pixels in chunks of 8–64 KB (libpng 8 KB: a 50 MB file, 6400)."""
_PNG_MAX_HEADER_CHUNKS = 4096
"""Chunks before the first IDAT: a dozen in a camera's or an editor's file."""
_JPEG_MAX_SEGMENTS = 1024
"""Segments before the first scan: an ICC profile takes at most 255, the rest a few dozen."""
_JPEG_MAX_SCANS = 256
"""Progressive encoders write 6–20 scans; each costs a pass over the whole image (a
100 MP image with 2000 scans decodes for 10 s), however few bytes it holds. A sequential
JPEG's scans each hold at least a code for every block: their cost is their size."""
_JPEG_PROGRESSIVE = (0xC2, 0xC6, 0xCA, 0xCE)
"""Start-of-frame markers of progressive JPEGs (Huffman or arithmetic coded)."""
_JPEG_LOSSLESS = (0xC3, 0xC7, 0xCB, 0xCF)
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers; the others in that range are DHT, JPG and DAC."""
_GIF_MAX_PIECES = 1 << 18
"""GIF data comes in sub-blocks of at most 255 bytes: 50 MB is 200 000 of them. Blocks
and stray bytes count too: each is a step for Pillow's reader, in Python."""
_ISO_MAX_BOXES = 1024
"""Top-level boxes of a HEIF or AVIF file: a photo has three to five."""
_BMP_MAX_RLE_BYTES = 8 * 1024 * 1024
"""Pillow decodes RLE bitmaps in Python, about 8 MB a second."""


def check_container(
    data: bytes, fmt: Format, max_frames: int, memory_budget: int | None = None
) -> None:
    """Raise `InvalidImage` if `data` is cut short or fails a checksum its format carries,
    `TooLarge` if its structure asks for more work than any photo needs (see above), for
    more memory than `memory_budget` bytes beyond the pixels it gives (see `_jpeg`), or it
    has more than `max_frames` frames or pages."""
    if fmt is PNG:
        _png(data)
    elif fmt is JPEG:
        _jpeg(data, memory_budget)
    elif fmt is GIF:
        _gif(data, max_frames)
    elif fmt is TIFF:
        _tiff(data, max_frames)
    elif fmt is BMP:
        _bmp(data)
    elif fmt is HEIF or fmt is AVIF:
        _iso_boxes(data, fmt)
        avif.check_cells(data, fmt.extension.upper())
        if fmt is AVIF:
            avif.check_sizes(data)
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
    chunks = 0
    pixels = False
    while True:
        if pos + 8 > size:
            raise _truncated(PNG)
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks += 1
        pixels = pixels or kind == b"IDAT"
        if chunks > (_PNG_MAX_CHUNKS if pixels else _PNG_MAX_HEADER_CHUNKS):
            where = "" if pixels else " before its pixels"
            raise TooLarge(f"the PNG file has over {chunks - 1} chunks{where}")
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


def _gif(data: bytes, max_frames: int) -> None:
    """Every block complete. A GIF may end without its trailer at a block boundary (browsers
    show those), but not inside a block."""
    size = len(data)
    if size < 13:
        raise _truncated(GIF)
    pos = 13 + _colour_table(data[10])
    frames = pieces = 0
    while True:
        pieces += 1
        if pieces > _GIF_MAX_PIECES:
            raise TooLarge(f"the GIF file is split into over {_GIF_MAX_PIECES} blocks")
        if pos > size:
            raise _truncated(GIF)
        if pos == size:
            return
        block = data[pos]
        if block == 0x3B:  # trailer
            return
        if block == 0x21:  # extension: label, then sub-blocks
            pos, count = _sub_blocks(data, pos + 2)
            pieces += count
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            frames += 1
            if frames > max_frames:
                raise TooLarge(f"the GIF has over {max_frames} frames, the limit")
            if pos + 10 > size:
                raise _truncated(GIF)
            pos, count = _sub_blocks(data, pos + 10 + _colour_table(data[pos + 9]) + 1)
            pieces += count
        else:
            pos += 1  # a stray byte: Pillow skips those too


def _colour_table(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _sub_blocks(data: bytes, pos: int) -> tuple[int, int]:
    """Where the sub-blocks starting at `pos` end, and how many there are."""
    size = len(data)
    count = 0
    while True:
        if pos >= size:
            raise _truncated(GIF)
        length = data[pos]
        pos += 1 + length
        count += 1
        if length == 0 or count > _GIF_MAX_PIECES:
            return pos, count


def _jpeg(data: bytes, memory_budget: int | None) -> None:
    """The segments before the first scan: none lossless, not too many, no stray bytes
    between them; and a progressive image's scans and the memory its coefficients take
    (libjpeg holds every one of them until the last scan: 2 bytes for each sample of each
    component, 800 MB for a 100 MP CMYK image, however few bytes the file has). The rest
    is left to the decoders."""
    size = len(data)
    pos = 2  # after SOI
    segments = 0
    progressive = False
    coefficients = 0
    while True:
        if pos + 4 > size:
            return
        if data[pos] != 0xFF:
            # libjpeg-turbo skips such bytes with a warning, which simplejpeg makes an error;
            # here, they could hide a segment from this walk.
            raise InvalidImage("the JPEG file is damaged: stray bytes between its segments")
        marker = data[pos + 1]
        if marker == 0xDA:  # the first scan
            break
        if marker in _JPEG_LOSSLESS:
            # libjpeg-turbo cannot scale these, and would write a full-size decode into the
            # buffer simplejpeg sized for the scaled one.
            raise Unsupported("lossless JPEG (as in medical images and raw files) is not read")
        if marker in _JPEG_FRAMES and pos + 4 < size and data[pos + 4] != 8:
            raise Unsupported(f"{data[pos + 4]}-bit JPEG (as in medical images) is not read")
        progressive = progressive or marker in _JPEG_PROGRESSIVE
        if marker in _JPEG_FRAMES:
            coefficients = max(coefficients, _jpeg_coefficient_bytes(data, pos))
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD9:  # no length follows
            pos += 2
        else:
            segments += 1
            if segments > _JPEG_MAX_SEGMENTS:
                raise TooLarge(f"the JPEG file has over {_JPEG_MAX_SEGMENTS} header segments")
            (length,) = struct.unpack_from(">H", data, pos + 2)
            pos += 2 + length
    if not progressive:
        return
    if memory_budget is not None and coefficients > memory_budget:
        raise TooLarge(
            f"this progressive JPEG needs {coefficients / 1e6:,.0f} MB to decode;"
            f" the limit is {memory_budget / 1e6:,.0f} MB"
        )
    # Coded data never holds FF DA or FF D9 (an FF there is followed by 00 or a restart
    # marker): the image ends at the first FF D9, and what follows (a motion photo's video,
    # a second picture) is not its scans. NumPy finds them four times faster than
    # `bytes.count` in high-entropy data.
    end = data.find(b"\xff\xd9", pos)
    coded = np.frombuffer(data, np.uint8, count=(len(data) if end < 0 else end) - pos, offset=pos)
    marks = np.flatnonzero(coded[:-1] == 0xFF)
    scans = int(np.count_nonzero(coded[marks + 1] == 0xDA))
    if scans > _JPEG_MAX_SCANS:
        raise TooLarge(f"the JPEG file has {scans} scans; the limit is {_JPEG_MAX_SCANS}")


def _jpeg_coefficient_bytes(data: bytes, sof: int) -> int:
    """What libjpeg allocates for the DCT coefficients of the frame whose SOF segment
    starts at `sof`: 2 bytes for each sample of each component (at its sampling); its
    blocks are rounded up to whole MCUs too, which adds under 1 % to a large image and is
    left out, so that no image of three full channels within the pixel limit is over the
    budget. 0 where the segment is cut short."""
    if sof + 10 > len(data):
        return 0
    height, width, count = struct.unpack_from(">HHB", data, sof + 5)
    factors = [
        (data[at] >> 4, data[at] & 15)
        for at in range(sof + 11, min(sof + 10 + 3 * count, len(data)), 3)
    ]
    if not factors or min(min(f) for f in factors) < 1:
        return 0
    most_h, most_v = max(h for h, _ in factors), max(v for _, v in factors)
    return sum(-(-width * h // most_h) * -(-height * v // most_v) * 2 for h, v in factors)


def _tiff(data: bytes, max_frames: int) -> None:
    """Pages (image file directories) counted along their chain, classic or BigTIFF; where
    the chain breaks or loops, the decoder judges the rest."""
    layout = _tiff_layout(data)
    if layout is None:
        return
    order, offset, count, link = layout
    size = len(data)
    count_size, link_size = struct.calcsize(count), struct.calcsize(link)
    _tiff_first_page_present(data, layout)
    seen: set[int] = set()
    while offset and offset not in seen and offset + count_size <= size:
        seen.add(offset)
        if len(seen) > max_frames:
            raise TooLarge(f"the TIFF file has over {max_frames} pages, the limit")
        (entries,) = struct.unpack_from(order + count, data, offset)
        following = offset + count_size + entries * (4 + 2 * link_size)
        if following + link_size > size:
            return
        (offset,) = struct.unpack_from(order + link, data, following)


_TiffLayout = tuple[str, int, str, str]
"""Byte order, where the first page's fields are, and the struct codes of a field count
and of an offset: classic TIFF or BigTIFF."""


def _tiff_layout(data: bytes) -> _TiffLayout | None:
    if len(data) < 16:
        return None
    order = "<" if data[:2] == b"II" else ">"
    (magic,) = struct.unpack_from(order + "H", data, 2)
    if magic == 42:
        return order, struct.unpack_from(order + "I", data, 4)[0], "H", "I"
    if magic == 43:
        return order, struct.unpack_from(order + "Q", data, 8)[0], "Q", "Q"
    return None


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TIFF_TYPE_SIZES |= {13: 4, 16: 8, 17: 8, 18: 8}
"""Bytes a value of each field type takes (BYTE, ASCII, SHORT, LONG, RATIONAL, ..., IFD8)."""
_TIFF_NUMBERS = {1: "u1", 3: "u2", 4: "u4", 16: "u8"}
"""Unsigned whole-number field types (BYTE, SHORT, LONG, LONG8) as NumPy types."""
_TIFF_PIECES = ((273, 279), (324, 325))
"""Where the first page's pixels are: strip offsets and byte counts, tile ones."""
_TIFF_MAX_FIELDS = 65536
"""Fields of one page: each tag at most once, and a camera writes about 60."""
_TIFF_MAX_PIECES = 1 << 20
"""Strips or tiles of one page: a 100 MP page in the smallest tiles (16×16) is 390 625."""
_Field = tuple[int, int, int]
"""A field's type, its number of values, and where they are in the file."""


def tiff_first_values(data: bytes) -> dict[int, int]:
    """The first value of each whole-number field of a TIFF's first page, by tag. For a
    file `check_container` passed."""
    layout = _tiff_layout(data)
    if layout is None:
        return {}
    return {
        tag: int(np.frombuffer(data, np.dtype(layout[0] + _TIFF_NUMBERS[kind]), 1, where)[0])
        for tag, (kind, number, where) in _tiff_fields(data, layout).items()
        if kind in _TIFF_NUMBERS and number
    }


def _tiff_fields(data: bytes, layout: _TiffLayout) -> dict[int, _Field]:
    """The fields of the first page, each checked to lie within the file."""
    order, ifd, count, link = layout
    size = len(data)
    count_size, link_size = struct.calcsize(count), struct.calcsize(link)
    if ifd + count_size > size:
        raise _truncated(TIFF)
    (entries,) = struct.unpack_from(order + count, data, ifd)
    if entries > _TIFF_MAX_FIELDS:
        raise InvalidImage(f"the TIFF file is damaged: its first page has {entries} fields")
    fields: dict[int, _Field] = {}
    step = 4 + 2 * link_size  # tag, type, count, then the value or where it is
    for at in range(ifd + count_size, ifd + count_size + entries * step, step):
        if at + step > size:
            raise _truncated(TIFF)
        tag, kind, number = struct.unpack_from(order + "HH" + link, data, at)
        length = number * _TIFF_TYPE_SIZES.get(kind, 0)
        where = at + 4 + link_size
        if length > link_size:
            (where,) = struct.unpack_from(order + link, data, where)
            if where + length > size:
                raise _truncated(TIFF)
        fields[tag] = (kind, number, where)
    return fields


def _tiff_first_page_present(data: bytes, layout: _TiffLayout) -> None:
    """The first page's fields and pixel data all lie within the file: libtiff skips a
    field cut off (a colour profile) and Pillow and libvips fill a strip cut off."""
    fields = _tiff_fields(data, layout)
    size = len(data)
    for offsets, lengths in _TIFF_PIECES:
        starts, counts = (
            _tiff_pieces(data, layout[0], fields.get(offsets)),
            _tiff_pieces(data, layout[0], fields.get(lengths)),
        )
        # compared so that nothing wraps around: offsets near 2**64 in a BigTIFF
        if len(starts) == len(counts) and ((starts > size) | (counts > size - starts)).any():
            raise _truncated(TIFF)


def _tiff_pieces(
    data: bytes, order: str, field: _Field | None
) -> np.ndarray[tuple[int], np.dtype[np.uint64]]:
    if field is None or field[0] not in _TIFF_NUMBERS:
        return np.zeros(0, np.uint64)
    kind, number, where = field
    if number > _TIFF_MAX_PIECES:
        raise TooLarge(f"the TIFF file's first page is in over {_TIFF_MAX_PIECES} pieces")
    numbers = np.frombuffer(data, np.dtype(order + _TIFF_NUMBERS[kind]), number, where)
    return numbers.astype(np.uint64)


def _bmp(data: bytes) -> None:
    if len(data) < 34 or len(data) <= _BMP_MAX_RLE_BYTES:
        return
    (header,) = struct.unpack_from("<I", data, 14)
    (compression,) = struct.unpack_from("<I", data, 30)
    if header >= 40 and compression in (1, 2):  # RLE8, RLE4
        raise TooLarge(
            f"the BMP file is run-length encoded and {len(data)} bytes;"
            f" the limit for those is {_BMP_MAX_RLE_BYTES} bytes"
        )


def _iso_boxes(data: bytes, fmt: Format) -> None:
    """The top-level boxes of a HEIF/AVIF file (ftyp, meta, mdat, ...) all present in full."""
    size = len(data)
    pos = 0
    for _ in range(_ISO_MAX_BOXES + 1):
        if pos >= size:
            return
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
    raise TooLarge(f"the {fmt.extension.upper()} file has over {_ISO_MAX_BOXES} top-level boxes")


def _riff(data: bytes) -> None:
    (length,) = struct.unpack_from("<I", data, 4)
    if len(data) < 8 + length:
        raise _truncated(WEBP)
