"""The sizes an AVIF file claims for its pictures, against the sizes of the AV1 streams that
code them.

An AVIF image item states its size in an `ispe` property, which is what readers report and
what darkroom's pixel limit is checked against; the item's data holds the size of its
frame (the sequence header's largest, unless the frame header states a smaller one).
libavif scales a decoded frame to the `ispe` size, so a 640×480 picture whose `ispe` says
10000×10000 would become a 100 MP image (seconds and a gigabyte of work, and variants of an
enlarged picture). An animated AVIF's track header is held to its first frame the same way.
libheif refuses such a HEIC itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import chain, islice

from darkroom.errors import InvalidImage, TooLarge

_OBU_SEQUENCE_HEADER = 1


_MAX_BOXES = 1024
"""Boxes read at the top, in `meta` and in `iprp`: a photo's have about ten each."""
_MAX_ITEMS = 65536
"""Items whose properties a file may list (a grid's tiles are items)."""
_MAX_PICTURES = 4096
"""AV1 items in one file: a photo is one, with its alpha and depth maps a few, and a grid
of 256×256 tiles covering 100 MP about 1500."""


def check_sizes(data: bytes) -> None:
    """Raise `InvalidImage` if an AV1 item's `ispe` size is larger than its frame (AV1 in
    ISOBMFF puts a sequence header before the first frame of every sync sample: a frame
    before any is damage too), `TooLarge` past `_MAX_PICTURES` of
    them. A grid is checked through its tiles; an item whose data is not where `iloc`
    says passes, for the decoder to refuse. Linear in the size of the boxes read."""
    top = list(islice(_boxes(data), _MAX_BOXES))
    for kind, body in top:
        if kind == b"moov":
            _check_tracks(data, body)
    meta = next((body for kind, body in top if kind == b"meta"), b"")
    boxes = list(islice(_boxes(meta[4:]), _MAX_BOXES))  # a full box: version, flags first
    iprp = [body for kind, body in boxes if kind == b"iprp"]
    children = [child for body in iprp for child in islice(_boxes(body), _MAX_BOXES)]
    properties = [
        p for kind, body in children if kind == b"ipco" for p in islice(_boxes(body), 0x7FFF)
    ]
    claims: dict[int, list[tuple[int, int]]] = {}
    coded: set[int] = set()
    associations = [_associations(body) for kind, body in children if kind == b"ipma"]
    for entry, (item, indices) in enumerate(chain.from_iterable(associations)):
        if entry == _MAX_ITEMS:
            raise TooLarge(f"the AVIF file describes over {_MAX_ITEMS} items")
        for index in indices:
            if not 0 < index <= len(properties):
                continue
            name, value = properties[index - 1]
            if name == b"ispe" and len(value) >= 12:
                claims.setdefault(item, []).append(struct.unpack_from(">II", value, 4))
            elif name == b"av1C":
                coded.add(item)
    pictures = [item for item in claims if item in coded]
    if len(pictures) > _MAX_PICTURES:
        raise TooLarge(f"the AVIF file holds over {_MAX_PICTURES} pictures")
    sources = {0: data, 1: next((body for kind, body in boxes if kind == b"idat"), b"")}
    extents = _extents(next((body for kind, body in boxes if kind == b"iloc"), b""))
    for item in pictures:
        method, pieces = extents.get(item, (-1, []))
        if method not in sources:
            continue
        source = sources[method]
        start = b"".join(source[at : at + length] for at, length in pieces)
        _held_to(_first_frame(start), claims[item], "it claims", "its AV1 picture is")


def colour_code_points(data: bytes) -> tuple[int, int] | None:
    """The colour primaries and transfer characteristics (ITU-T H.273) the primary image
    item of an HEIF or AVIF file states in an `nclx` colour box; None where it states none
    (an ICC profile, or nothing) or the boxes do not read as that."""
    meta = next((body for name, body in islice(_boxes(data), _MAX_BOXES) if name == b"meta"), b"")
    boxes = dict(islice(_boxes(meta[4:]), _MAX_BOXES))  # full boxes: version and flags first
    pitm = boxes.get(b"pitm", b"")
    size = 2 if pitm[:1] == b"\0" else 4
    if len(pitm) < 4 + size:
        return None
    primary = int.from_bytes(pitm[4 : 4 + size], "big")
    iprp = boxes.get(b"iprp", b"")
    properties = list(islice(_boxes(_inside(iprp, b"ipco")), 0x7FFF))
    ipma = _inside(iprp, b"ipma")
    indices = next((found for item, found in _associations(ipma) if item == primary), [])
    for index in indices:
        name, colour = properties[index - 1] if 0 < index <= len(properties) else (b"", b"")
        if name == b"colr" and colour[:4] == b"nclx" and len(colour) >= 8:
            primaries, transfer = struct.unpack_from(">HH", colour, 4)
            return primaries, transfer
    return None


def check_cells(data: bytes, kind: str) -> None:
    """Raise `TooLarge` if a derived image (a grid) of a HEIF or AVIF file names one coded
    picture for more than one of its cells. libheif and libavif decode each cell on its own:
    a file holding one tile would ask for the work and memory of every cell of the grid (a
    386 KB HEIC, one noisy 512×512 tile in all 361 cells of a 95 MP grid, took 15 s and
    460 MB). Encoders code every cell apart, so a photo's cells are all different."""
    meta = next((body for name, body in islice(_boxes(data), _MAX_BOXES) if name == b"meta"), b"")
    iref = _inside(meta[4:], b"iref")  # full boxes: version and flags first
    if len(iref) < 4:
        return
    size = 2 if iref[0] == 0 else 4
    for name, body in islice(_boxes(iref[4:]), _MAX_ITEMS):
        if name != b"dimg" or len(body) < size + 2:
            continue
        (count,) = struct.unpack_from(">H", body, size)
        cells = body[size + 2 : size + 2 + count * size]
        named = [cells[at : at + size] for at in range(0, len(cells), size)]
        if len(set(named)) < len(named):
            raise TooLarge(
                f"the {kind} file's grid repeats its tiles: {len(named)} cells,"
                f" {len(set(named))} of them coded"
            )


def _check_tracks(data: bytes, moov: bytes) -> None:
    """An animated AVIF's tracks: libavif enlarges each frame to the size the track header
    (`tkhd`) states, so it and the size its sample entry states are held to the sequence
    header in force at the track's first frame."""
    for kind, trak in islice(_boxes(moov), _MAX_BOXES):
        if kind != b"trak":
            continue
        parts = dict(islice(_boxes(trak), _MAX_BOXES))
        claims: list[tuple[int, int]] = []
        tkhd = parts.get(b"tkhd", b"")
        if len(tkhd) >= 84:  # its last fields: width and height, 16.16 fixed point
            width, height = struct.unpack_from(">II", tkhd, len(tkhd) - 8)
            claims.append((width >> 16, height >> 16))
        stbl = _inside(parts.get(b"mdia", b""), b"minf", b"stbl")
        tables = dict(islice(_boxes(stbl), _MAX_BOXES))
        stsd = tables.get(b"stsd", b"")
        entry = next(
            (body for kind, body in islice(_boxes(stsd[8:]), _MAX_BOXES) if kind == b"av01"), None
        )
        if entry is None:
            continue
        if len(entry) >= 28:  # a visual sample entry: width and height after 24 bytes
            claims.append(struct.unpack_from(">HH", entry, 24))
        # After the sample entry's 78 bytes of fields, its boxes: av1C's body after 4 bytes
        # of fields holds the configuration's units, whose sequence header is in force at
        # the first sample unless that sample has its own.
        config = dict(islice(_boxes(entry[78:]), _MAX_BOXES)).get(b"av1C", b"")
        # A track's frames may change size, and its sample entry states the largest: the
        # claims are held to its sequence header's largest, not to its first frame.
        largest = _first_frame(config[4:] + _first_sample(data, tables), as_stated=False)
        _held_to(largest, claims, "its animation claims", "its AV1 frames are at most")


def _held_to(
    coded: tuple[int, int] | None, claims: list[tuple[int, int]], claimer: str, holder: str
) -> None:
    """`InvalidImage` for a claimed size larger than `coded`; nothing where that is not
    known."""
    if coded is None:
        return
    for width, height in claims:
        if width > coded[0] or height > coded[1]:
            raise InvalidImage(
                f"the AVIF file is damaged: {claimer} {width}×{height} pixels,"
                f" and {holder} {coded[0]}×{coded[1]}"
            )


def _inside(body: bytes, *path: bytes) -> bytes:
    """The body of the box `path` names inside `body`, one level at a time; empty if none."""
    for name in path:
        body = next((b for kind, b in islice(_boxes(body), _MAX_BOXES) if kind == name), b"")
    return body


def _first_sample(data: bytes, tables: dict[bytes, bytes]) -> bytes:
    """The first bytes of a track's first sample: where its first chunk starts (`stco` or
    `co64`), as long as `stsz` says."""
    stco, co64, stsz = (tables.get(name, b"") for name in (b"stco", b"co64", b"stsz"))
    if len(stco) >= 12:
        (start,) = struct.unpack_from(">I", stco, 8)
    elif len(co64) >= 16:
        (start,) = struct.unpack_from(">Q", co64, 8)
    else:
        return b""
    if len(stsz) < 12:
        return b""
    size, count = struct.unpack_from(">II", stsz, 4)
    if size == 0 and count and len(stsz) >= 16:
        (size,) = struct.unpack_from(">I", stsz, 12)
    return data[start : start + min(size, _START_BYTES)]


def _boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (type, body) of each box in `data`; the walk ends at anything malformed (the
    decoder then says what is wrong)."""
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1 and pos + 16 <= len(data):
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:
            length = len(data) - pos
        if length < header or pos + length > len(data):
            return
        yield kind, data[pos + header : pos + length]
        pos += length


def _associations(ipma: bytes) -> Iterator[tuple[int, list[int]]]:
    """Each item's property indices (1-based into `ipco`) from an `ipma` box's body."""
    if len(ipma) < 8:
        return
    version, flags = ipma[0], int.from_bytes(ipma[1:4], "big")
    (count,) = struct.unpack_from(">I", ipma, 4)
    pos = 8
    id_size = 2 if version < 1 else 4
    index_size = 2 if flags & 1 else 1
    index_mask = 0x7FFF if flags & 1 else 0x7F
    for _ in range(count):
        if pos + id_size + 1 > len(ipma):
            return
        item = int.from_bytes(ipma[pos : pos + id_size], "big")
        associations = ipma[pos + id_size]
        pos += id_size + 1
        end = pos + associations * index_size
        if end > len(ipma):
            return
        yield (
            item,
            [
                int.from_bytes(ipma[at : at + index_size], "big") & index_mask
                for at in range(pos, end, index_size)
            ],
        )
        pos = end


_START_BYTES = 65536
"""Of an item's data, as much as its sequence header is looked for in."""
_KEPT_EXTENTS = 16


def _extents(iloc: bytes) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """Each item's construction method (0: in the file, 1: in the `idat` box) and where
    the first `_START_BYTES` of its data are, from an `iloc` box's body."""
    found: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    if len(iloc) < 8:
        return found
    version = iloc[0]
    offset_size, length_size = iloc[4] >> 4, iloc[4] & 0xF
    base_offset_size = iloc[5] >> 4
    index_size = iloc[5] & 0xF if version in (1, 2) else 0
    id_size = 4 if version == 2 else 2
    extent_size = index_size + offset_size + length_size
    count, pos = _number(iloc, 6, id_size)
    for _ in range(count):
        item, pos = _number(iloc, pos, id_size)
        method = 0
        if version in (1, 2):
            method, pos = _number(iloc, pos, 2)
        pos += 2  # data_reference_index
        base, pos = _number(iloc, pos, base_offset_size)
        extents, pos = _number(iloc, pos, 2)
        if pos + extents * extent_size > len(iloc):
            break
        pieces: list[tuple[int, int]] = []
        total = 0
        for index in range(min(extents, _KEPT_EXTENTS)):
            at = pos + index * extent_size
            offset, after = _number(iloc, at + index_size, offset_size)
            length, _ = _number(iloc, after, length_size)
            length = min(length or _START_BYTES, _START_BYTES - total)  # 0: to the end
            pieces.append((base + offset, length))
            total += length
            if total >= _START_BYTES:
                break
        found.setdefault(item, (method & 0xF, pieces))
        pos += extents * extent_size
    return found


def _number(data: bytes, pos: int, size: int) -> tuple[int, int]:
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


_OBUS_BEFORE_FRAME = 64
"""Metadata or padding may come before the first frame; more than this many units is
damage."""
_OBU_FRAME_HEADER, _OBU_FRAME = 3, 6
_FRAME_OBUS = frozenset({_OBU_FRAME_HEADER, 4, _OBU_FRAME, 7})
"""Frame header, tile group, frame, redundant frame header."""


def _first_frame(obus: bytes, as_stated: bool = True) -> tuple[int, int] | None:
    """The size of the first frame of `obus` (an item's data, or a track's configuration
    and first sample): if `as_stated`, the one its frame header states, within the sequence
    header in force (the last one before it); that header's largest otherwise, or where the
    frame header does not say or cannot be read. None where the data ends before any
    sequence header (the decoder will refuse it)."""
    pos = 0
    sequence: _Sequence | None = None
    for _ in range(_OBUS_BEFORE_FRAME):
        if pos >= len(obus):
            return None if sequence is None else sequence.largest
        header = obus[pos]
        kind, extension, sized = (header >> 3) & 0xF, header & 4, header & 2
        pos += 2 if extension else 1
        if not sized:
            size = len(obus) - pos
        else:
            size, pos = _leb128(obus, pos)
        if kind == _OBU_SEQUENCE_HEADER:
            try:
                sequence = _sequence_header(_Bits(obus[pos : pos + size]))
            except IndexError:
                return None if sequence is None else sequence.largest
        elif kind in _FRAME_OBUS:
            if sequence is None:
                break
            if not as_stated or kind not in (_OBU_FRAME_HEADER, _OBU_FRAME):
                return sequence.largest
            try:
                return _frame_size(_Bits(obus[pos : pos + size]), sequence)
            except IndexError:
                return sequence.largest
        pos += size
    raise InvalidImage("the AVIF file is damaged: its AV1 picture has no sequence header")


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos >= len(data):
            break
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            break
    return value, pos


class _Bits:
    """Reads the AV1 specification's f(n) and uvlc() fields, most significant bit first."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def f(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self._data[self._at >> 3]  # IndexError past the end
            value = (value << 1) | ((byte >> (7 - (self._at & 7))) & 1)
            self._at += 1
        return value

    def uvlc(self) -> int:
        zeros = 0
        while not self.f(1):
            zeros += 1
            if zeros > _UVLC_ZEROS:  # as unreadable as data cut short
                raise IndexError("no end to a variable-length number")
        if zeros >= 32:
            return (1 << 32) - 1
        return self.f(zeros) + (1 << zeros) - 1


_UVLC_ZEROS = 64
"""An encoder writes at most 32 leading zeros; megabytes of them would be read one by one."""


_SELECT = 2
"""seq_force_screen_content_tools and seq_force_integer_mv: chosen by each frame."""
_KEY_FRAME, _INTRA_ONLY_FRAME = 0, 2


@dataclass(frozen=True, slots=True)
class _Sequence:
    """What a frame header's syntax depends on, up to its frame size."""

    largest: tuple[int, int]
    size_bits: tuple[int, int]
    sized_by_frames: bool = False
    """Whether the first frame's header states the picture's size: in the long form, read
    whole, of one layer. (A reduced header's frame is as large as it allows; a stream of
    spatial layers shows its top layer, larger than its first frame.)"""
    presentation_time_bits: int = 0
    """Where each shown frame states when (decoder model info, and no equal interval)."""
    removal_time_bits: int = 0
    """With the decoder model info, the width of each buffer removal time a frame states."""
    modelled_points: int = 0
    """Operating points that model the decoder: a frame states a removal time for each."""
    frame_id_bits: int = 0
    screen_content_tools: int = _SELECT
    integer_mv: int = _SELECT
    order_hint_bits: int = 0


def _sequence_header(bits: _Bits) -> _Sequence:
    """Section 5.5 of the AV1 specification, read up to the fields frame headers depend on."""
    bits.f(3)  # seq_profile
    bits.f(1)  # still_picture
    if bits.f(1):  # reduced_still_picture_header
        bits.f(5)  # seq_level_idx[0]
        width_bits, height_bits = bits.f(4) + 1, bits.f(4) + 1
        largest = bits.f(width_bits) + 1, bits.f(height_bits) + 1
        return _Sequence(largest, (width_bits, height_bits))
    decoder_model_info = False
    buffer_delay_bits = removal_time_bits = presentation_time_bits = 0
    equal_picture_interval = False
    if bits.f(1):  # timing_info_present_flag
        bits.f(32)  # num_units_in_display_tick
        bits.f(32)  # time_scale
        equal_picture_interval = bool(bits.f(1))
        if equal_picture_interval:
            bits.uvlc()  # num_ticks_per_picture_minus_1
        decoder_model_info = bool(bits.f(1))
        if decoder_model_info:
            buffer_delay_bits = bits.f(5) + 1
            bits.f(32)  # num_units_in_decoding_tick
            removal_time_bits = bits.f(5) + 1
            presentation_time_bits = bits.f(5) + 1
    initial_display_delay = bits.f(1)
    modelled = 0
    layered = False
    for _ in range(bits.f(5) + 1):  # operating_points_cnt_minus_1
        idc = bits.f(12)  # operating_point_idc: 0 for a stream of one layer
        layered = layered or idc != 0
        if bits.f(5) > 7:  # seq_level_idx
            bits.f(1)  # seq_tier
        if decoder_model_info and bits.f(1):  # decoder_model_present_for_this_op
            bits.f(2 * buffer_delay_bits + 1)  # both buffer delays, low_delay_mode_flag
            modelled += 1
        if initial_display_delay and bits.f(1):
            bits.f(4)  # initial_display_delay_minus_1
    width_bits, height_bits = bits.f(4) + 1, bits.f(4) + 1
    largest = bits.f(width_bits) + 1, bits.f(height_bits) + 1
    sequence = _Sequence(largest, (width_bits, height_bits))
    if layered:
        return sequence
    try:
        return _frame_fields(
            bits,
            replace(
                sequence,
                sized_by_frames=True,
                presentation_time_bits=0 if equal_picture_interval else presentation_time_bits,
                removal_time_bits=removal_time_bits,
                modelled_points=modelled,
            ),
        )
    except IndexError:
        return sequence


def _frame_fields(bits: _Bits, sequence: _Sequence) -> _Sequence:
    """`sequence` with the rest of the long form's fields frame headers depend on."""
    frame_id_bits = 0
    if bits.f(1):  # frame_id_numbers_present_flag
        delta_bits = bits.f(4) + 2  # delta_frame_id_length_minus_2
        frame_id_bits = bits.f(3) + 1 + delta_bits  # additional_frame_id_length_minus_1
    bits.f(3)  # use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    bits.f(4)  # enable_interintra_compound, _masked_compound, _warped_motion, _dual_filter
    order_hint = bits.f(1)  # enable_order_hint
    if order_hint:
        bits.f(2)  # enable_jnt_comp, enable_ref_frame_mvs
    screen_content_tools = _SELECT if bits.f(1) else bits.f(1)  # seq_choose_… or seq_force_…
    integer_mv = _SELECT
    if screen_content_tools:
        integer_mv = _SELECT if bits.f(1) else bits.f(1)  # seq_choose_… or seq_force_…
    order_hint_bits = bits.f(3) + 1 if order_hint else 0
    return replace(
        sequence,
        frame_id_bits=frame_id_bits,
        screen_content_tools=screen_content_tools,
        integer_mv=integer_mv,
        order_hint_bits=order_hint_bits,
    )


def _frame_size(bits: _Bits, sequence: _Sequence) -> tuple[int, int]:
    """Section 5.9.2 of the AV1 specification (uncompressed_header), read up to the frame
    size of a key or intra-only frame of a single-layer stream; the sequence header's largest
    for any other (a stream's first frame is a key frame, and the decoder refuses one that
    is not)."""
    if not sequence.sized_by_frames:
        return sequence.largest
    if bits.f(1):  # show_existing_frame
        return sequence.largest
    frame_type = bits.f(2)
    if frame_type not in (_KEY_FRAME, _INTRA_ONLY_FRAME):
        return sequence.largest
    shown = bits.f(1)  # show_frame
    if shown:
        bits.f(sequence.presentation_time_bits)  # temporal_point_info
    else:
        bits.f(1)  # showable_frame
    shown_key = shown and frame_type == _KEY_FRAME
    error_resilient = 1 if shown_key else bits.f(1)
    bits.f(1)  # disable_cdf_update
    screen_content_tools = sequence.screen_content_tools
    if screen_content_tools == _SELECT:
        screen_content_tools = bits.f(1)
    if screen_content_tools and sequence.integer_mv == _SELECT:
        bits.f(1)  # force_integer_mv
    bits.f(sequence.frame_id_bits)  # current_frame_id
    override = bits.f(1)  # frame_size_override_flag
    bits.f(sequence.order_hint_bits)  # order_hint
    if sequence.removal_time_bits and bits.f(1):  # buffer_removal_time_present_flag
        # one for each modelled operating point: of a single layer, the frame is in each
        bits.f(sequence.modelled_points * sequence.removal_time_bits)
    refresh = 0xFF if shown_key else bits.f(8)  # refresh_frame_flags
    if refresh != 0xFF and error_resilient and sequence.order_hint_bits:
        bits.f(8 * sequence.order_hint_bits)  # ref_order_hint[0..7]
    if not override:
        return sequence.largest
    width_bits, height_bits = sequence.size_bits
    return bits.f(width_bits) + 1, bits.f(height_bits) + 1
