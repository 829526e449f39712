"""AVIF files that state a bigger picture than their AV1 stream holds, in every layout the
container allows, are refused before libavif enlarges them; honest ones are not. The files
are assembled here around the AV1 data of one that Pillow (libavif) wrote."""

from __future__ import annotations

import struct
from functools import cache

import pytest

from darkroom.errors import InvalidImage, TooLarge
from darkroom.imaging import avif, develop
from darkroom.imaging.formats import AVIF
from darkroom.imaging.integrity import check_container
from tests.unit.imaging_helpers import encode, sample_image

pytestmark = pytest.mark.timeout(20)

SIZE = (320, 240)
LIE = (10_000, 10_000)
_PADDING_OBU = 15


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, body: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + body)


@cache
def _av1() -> tuple[bytes, bytes]:
    """The AV1 item data and the `av1C` body of a 320×240 AVIF written by libavif."""
    data = encode(sample_image(SIZE), "AVIF", quality=60)
    meta = dict(avif._boxes(next(b for k, b in avif._boxes(data) if k == b"meta")[4:]))
    ((offset, length),) = avif._extents(meta[b"iloc"])[1][1]
    ipco = dict(avif._boxes(dict(avif._boxes(meta[b"iprp"]))[b"ipco"]))
    return data[offset : offset + length], ipco[b"av1C"]


def _obu(kind: int, payload: bytes) -> bytes:
    assert len(payload) < 1 << 14
    size = bytes([0x80 | (len(payload) & 0x7F), len(payload) >> 7])  # two-byte leb128
    return bytes([(kind << 3) | 2]) + size + payload


def _avif(
    claims: tuple[tuple[int, int], ...] = (SIZE,),
    *,
    split: bool = False,
    in_idat: bool = False,
    padding: int = 0,
    ipma_boxes: int = 1,
    coded: bytes | None = None,
) -> bytes:
    """One AV1 image item (id 1) whose `ispe` properties say `claims`; its data in two
    extents, or in the `idat` box, or after a padding unit of `padding` bytes; its property
    associations in the last of `ipma_boxes` boxes (the others empty); its data `coded`,
    or libavif's."""
    av1, config = _av1()
    av1 = av1 if coded is None else coded
    if padding:
        delimiter = av1[:2]  # libavif starts with a temporal delimiter
        assert delimiter == b"\x12\x00"
        av1 = delimiter + _obu(_PADDING_OBU, bytes(padding)) + av1[2:]
    properties = [_full(b"ispe", struct.pack(">II", *claim)) for claim in claims]
    properties += [_box(b"av1C", config), _full(b"pixi", bytes([3, 8, 8, 8]))]
    indices = [*range(1, len(claims) + 1), 0x80 | (len(claims) + 1), len(claims) + 2]
    associations = struct.pack(">IHB", 1, 1, len(indices)) + bytes(indices)
    ipma = _full(b"ipma", struct.pack(">I", 0)) * (ipma_boxes - 1) + _full(b"ipma", associations)
    iprp = _box(b"iprp", _box(b"ipco", b"".join(properties)) + ipma)

    def meta(mdat_at: int) -> bytes:
        base = 0 if in_idat else mdat_at + 8
        cut = 2 if split else len(av1)
        extents = [(base, cut)] + ([(base + cut, len(av1) - cut)] if split else [])
        item = struct.pack(">HHHH", 1, 1 if in_idat else 0, 0, len(extents))
        item += b"".join(struct.pack(">II", at, length) for at, length in extents)
        iloc = _full(b"iloc", bytes([0x44, 0x00]) + struct.pack(">H", 1) + item, version=1)
        infe = _full(b"infe", struct.pack(">HH4s", 1, 0, b"av01") + b"\x00", version=2)
        return _full(
            b"meta",
            _full(b"hdlr", bytes(4) + b"pict" + bytes(13))
            + _full(b"pitm", struct.pack(">H", 1))
            + iloc
            + _full(b"iinf", struct.pack(">H", 1) + infe)
            + iprp
            + (_box(b"idat", av1) if in_idat else b""),
        )

    ftyp = _box(b"ftyp", b"avif" + bytes(4) + b"mif1avifmiaf")
    at = len(ftyp) + len(meta(0))
    return ftyp + meta(at) + _box(b"mdat", b"" if in_idat else av1)


DECODED = {
    "plain": {},
    "split-into-two-extents": {"split": True},
    "in-the-idat-box": {"in_idat": True},
    "after-5000-bytes-of-padding": {"padding": 5000},
}
LAYOUTS = DECODED | {"associations-in-a-second-ipma": {"ipma_boxes": 2}}  # libavif refuses


@pytest.mark.parametrize("layout", DECODED)
def test_an_honest_avif_in_every_layout_is_decoded(layout: str) -> None:
    result = develop(_avif(**DECODED[layout]))  # type: ignore[arg-type]
    assert (result.info.width, result.info.height) == SIZE


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("claims", [(LIE,), (SIZE, LIE), (LIE, SIZE)], ids=str)
def test_an_avif_claiming_more_than_its_picture_is_refused_in_every_layout(
    layout: str, claims: tuple[tuple[int, int], ...]
) -> None:
    data = _avif(claims, **LAYOUTS[layout])  # type: ignore[arg-type]
    with pytest.raises(InvalidImage, match=r"10000×10000.*320×240"):
        check_container(data, AVIF, 1)


def test_a_frame_before_any_sequence_header_is_damage() -> None:
    av1, _ = _av1()
    frame = _obu(6, b"\x00" * 10)
    with pytest.raises(InvalidImage, match="no sequence header"):
        avif._first_frame(b"\x12\x00" + frame + av1[2:])


def test_an_iloc_of_zero_byte_extents_is_read_in_one_pass() -> None:
    """65 535 extents of no bytes each, for each of 5000 items: walked one by one, minutes
    (the module's timeout stops that)."""
    entries = b"".join(struct.pack(">HHH", 2 + i, 0, 0xFFFF) for i in range(5000))
    iloc = bytes(4) + bytes([0, 0]) + struct.pack(">H", 5000) + entries
    assert len(avif._extents(iloc)) == 5000


def test_thousands_of_pictures_are_too_many() -> None:
    av1, config = _av1()
    properties = _box(b"ipco", _full(b"ispe", struct.pack(">II", *SIZE)) + _box(b"av1C", config))
    count = avif._MAX_PICTURES + 1
    ipma = struct.pack(">I", count) + b"".join(
        struct.pack(">HBBB", item, 2, 1, 0x82) for item in range(1, count + 1)
    )
    meta = _full(b"meta", _box(b"iprp", properties + _full(b"ipma", ipma)))
    data = _box(b"ftyp", b"avif" + bytes(4) + b"mif1avif") + meta + _box(b"mdat", av1)
    with pytest.raises(TooLarge, match="pictures"):
        avif.check_sizes(data)


def test_an_ipma_describing_more_items_than_any_photo_is_too_large() -> None:
    count = avif._MAX_ITEMS + 1  # no properties each: only the count of items matters
    ipma = _full(b"ipma", struct.pack(">I", count) + struct.pack(">HB", 1, 0) * count)
    meta = _full(b"meta", _box(b"iprp", _box(b"ipco", b"") + ipma))
    with pytest.raises(TooLarge, match="items"):
        avif.check_sizes(_box(b"ftyp", b"avif" + bytes(4) + b"mif1avif") + meta)


def _animated(mode: str) -> bytes:
    frames = [sample_image((200, 100), mode) for _ in range(3)]
    return encode(frames[0], "AVIF", save_all=True, append_images=frames[1:], speed=10)


def _track_claiming(animated: bytes, width: int, height: int, where: str) -> bytes:
    """`animated` with every track header (`tkhd`) or sample entry (`av01`) stating
    `width`×`height`."""
    data = bytearray(animated)
    name = b"tkhd" if where == "tkhd" else b"av01"  # in the tracks, not the still item's
    at = data.find(name, data.index(b"moov"))
    while at >= 0:
        if where == "tkhd":
            end = at - 4 + struct.unpack_from(">I", data, at - 4)[0]
            struct.pack_into(">II", data, end - 8, width << 16, height << 16)
        else:
            struct.pack_into(">HH", data, at + 4 + 24, width, height)
        at = data.find(name, at + 4)
    return bytes(data)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_an_honest_animated_avif_is_decoded(mode: str) -> None:
    result = develop(_animated(mode))
    assert (result.info.width, result.info.height, result.info.frames) == (200, 100, 3)


@pytest.mark.parametrize("where", ["tkhd", "av01"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_an_animated_avif_claiming_more_than_its_frames_is_refused(mode: str, where: str) -> None:
    """libavif enlarged each 200×100 frame to what the track header says (3 s, 878 MB)."""
    data = _track_claiming(_animated(mode), *LIE, where)
    with pytest.raises(InvalidImage, match=r"animation claims 10000×10000.*200×100"):
        check_container(data, AVIF, 10)


def _moov(claim: tuple[int, int], config_obus: bytes, sample_at: int, sample: bytes) -> bytes:
    """A `moov` body of one AV1 track whose header and sample entry say `claim`, whose
    sample entry's `av1C` carries `config_obus`, and whose first sample is at `sample_at`."""
    width, height = claim
    tkhd = _full(b"tkhd", bytes(72) + struct.pack(">II", width << 16, height << 16))
    entry = bytes(24) + struct.pack(">HH", width, height) + bytes(50)
    entry += _box(b"av1C", _av1()[1] + config_obus)
    stsd = _full(b"stsd", struct.pack(">I", 1) + _box(b"av01", entry))
    stsz = _full(b"stsz", struct.pack(">II", len(sample), 1))
    stco = _full(b"stco", struct.pack(">II", 1, sample_at))
    stbl = _box(b"stbl", stsd + stsz + stco)
    return _box(b"trak", tkhd + _box(b"mdia", _box(b"minf", stbl)))


@pytest.mark.parametrize(("claim", "refused"), [(SIZE, False), (LIE, True)])
def test_a_track_whose_sequence_header_is_in_its_sample_entry_alone(
    claim: tuple[int, int], refused: bool
) -> None:
    av1, _ = _av1()
    sequence_header = av1[2 : 4 + av1[3]]  # after the temporal delimiter: type, size, body
    assert sequence_header[0] >> 3 == 1
    sample = _obu(6, bytes(10))  # a frame, and no sequence header before it
    data = bytes(100) + sample
    moov = _moov(claim, sequence_header, 100, sample)
    if refused:
        with pytest.raises(InvalidImage, match="animation claims 10000×10000"):
            avif._check_tracks(data, moov)
    else:
        avif._check_tracks(data, moov)


def _bits(*fields: tuple[int, int]) -> str:
    """Each (value, width) as that many bits, most significant first."""
    return "".join(format(value, f"0{width}b") for value, width in fields)


def _packed(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


_SINGLE_LAYER = (0, 0)
"""operating_point_idc of two operating points of a stream of one layer."""
_THREE_LAYERS = (0x107, 0x103, 0x101)
"""Spatial layers 0 to 2 of temporal layer 0, 0 and 1, and 0 alone: a picture coded small,
then larger, as a progressive AVIF is."""
_ORDER_HINT_BITS = 7
_FRAME_ID_BITS = 10


def _long_sequence_header(
    largest: tuple[int, int], variant: str, points: tuple[int, ...] = _SINGLE_LAYER
) -> bytes:
    """A sequence header unit in the long form (not a still picture's reduced one), whose
    frames may state a smaller size than `largest`, with the fields a frame header's
    syntax depends on as `variant` says, and operating points of `points`."""
    model = variant == "decoder-model"
    bits = _bits((0, 3), (0, 1), (0, 1), (int(model), 1))  # profile, still, reduced, timing
    if model:  # no equal picture interval; 10-bit buffer delays, 5-bit removal times
        bits += _bits((1001, 32), (30000, 32), (0, 1), (1, 1), (9, 5), (90, 32), (4, 5), (5, 5))
    bits += _bits((0, 1), (len(points) - 1, 5))  # no initial display delays
    for idc in points:
        bits += _bits((idc, 12), (8, 5), (0, 1))  # level 4.0, main tier
        if model:
            bits += _bits((1, 1), (500, 10), (700, 10), (0, 1))
    bits += _bits((13, 4), (13, 4), (largest[0] - 1, 14), (largest[1] - 1, 14))
    bits += _bits((int(variant == "frame-ids"), 1))
    if variant == "frame-ids":
        bits += _bits((_FRAME_ID_BITS - 5, 4), (2, 3))  # delta length 2 + 5, additional 3
    bits += _bits((0, 3), (0, 4), (1, 1), (1, 2))  # tools; order hints, with jnt and mvs
    if variant == "screen-content":  # forced on, integer motion vectors chosen by frames
        bits += _bits((0, 1), (1, 1), (1, 1))
    else:  # chosen by frames
        bits += _bits((1, 1), (1, 1))
    bits += _bits((_ORDER_HINT_BITS - 1, 3), (0, 3)) + "0" * 40  # superres, cdef, lr, colour…
    return _obu(avif._OBU_SEQUENCE_HEADER, _packed(bits))


def _key_frame(size: tuple[int, int] | None, variant: str = "plain", spatial: int = 0) -> bytes:
    """A frame unit of a shown key frame (its header, then no tiles) of a single-layer
    stream, stating `size`, or none (the sequence header's largest); in spatial layer
    `spatial` (an extension header says so)."""
    model = variant == "decoder-model"
    bits = _bits((0, 1), (0, 2), (1, 1))  # not an existing frame; a key frame, shown
    bits += _bits((37, 6)) if model else ""  # frame_presentation_time
    bits += _bits((0, 1))  # disable_cdf_update
    if variant != "screen-content":
        bits += _bits((1, 1))  # allow_screen_content_tools, chosen by the frame
    bits += _bits((1, 1))  # force_integer_mv, chosen by the frame
    bits += _bits((3, _FRAME_ID_BITS)) if variant == "frame-ids" else ""
    bits += _bits((int(size is not None), 1), (0, _ORDER_HINT_BITS))
    if model:  # a removal time for each operating point: the frame is in both
        bits += "1" + _bits((21, 5)) * len(_SINGLE_LAYER)
    if size is not None:
        bits += _bits((size[0] - 1, 14), (size[1] - 1, 14))
    payload = _packed(bits + "1" + "0" * 30)  # render size and the rest
    extension = bytes([spatial << 3])
    return bytes([(avif._OBU_FRAME << 3) | 4 | 2]) + extension + bytes([len(payload)]) + payload


VARIANTS = ["plain", "decoder-model", "frame-ids", "screen-content"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("stated", [SIZE, None], ids=["stated", "as-the-sequence"])
def test_a_frame_is_as_big_as_its_header_states(
    variant: str, stated: tuple[int, int] | None
) -> None:
    coded = _long_sequence_header(LIE, variant) + _key_frame(stated, variant)
    assert avif._first_frame(b"\x12\x00" + coded) == (stated or LIE)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("claim", "refused"), [(LIE, True), (SIZE, False)], ids=str)
def test_an_avif_claiming_more_than_its_frame_states_is_refused(
    variant: str, claim: tuple[int, int], refused: bool
) -> None:
    """Its sequence header allows 10000×10000, and the frame says 320×240: libavif would
    enlarge it to the claim."""
    coded = _long_sequence_header(LIE, variant) + _key_frame(SIZE, variant)
    data = _avif((claim,), coded=b"\x12\x00" + coded)
    if refused:
        with pytest.raises(InvalidImage, match=r"claims 10000×10000.*picture is 320×240"):
            check_container(data, AVIF, 1)
    else:
        check_container(data, AVIF, 1)


def test_a_picture_in_spatial_layers_is_held_to_its_top_layer() -> None:
    """As the conformance file tiger_3layer_3res.avif is coded: its first frame is the
    smallest layer, and the picture shown is the largest."""
    top = (1216, 832)
    frames = b"".join(
        _key_frame(size, spatial=layer) for layer, size in enumerate([(304, 208), (608, 416), top])
    )
    coded = b"\x12\x00" + _long_sequence_header(top, "plain", _THREE_LAYERS) + frames
    assert avif._first_frame(coded) == top
    check_container(_avif((top,), coded=coded), AVIF, 1)


def _first_frame_stating(animated: bytes, size: tuple[int, int]) -> tuple[bytes, bytes]:
    """The first sample of `animated` (libavif's own sequence header and frame), and that
    sample with its frame made to state `size` (no longer decodable)."""
    moov = next(body for kind, body in avif._boxes(animated) if kind == b"moov")
    trak = next(body for kind, body in avif._boxes(moov) if kind == b"trak")
    stbl = avif._inside(dict(avif._boxes(trak))[b"mdia"], b"minf", b"stbl")
    sample = avif._first_sample(animated, dict(avif._boxes(stbl)))
    frame = sample.index(b"\x32")  # after the temporal delimiter and the sequence header
    length, header = avif._leb128(sample, frame + 1)
    bits = "".join(format(byte, "08b") for byte in sample[header : header + length])
    # a key frame, shown, tools chosen by the frame, no frame size; order hint 0 (7 bits)
    assert bits[:14] == "00010000000000"
    stated = bits[:6] + "1" + bits[7:14] + _bits((size[0] - 1, 8), (size[1] - 1, 7)) + bits[14:]
    # as long as before (the tiles' last bytes cut), so that every offset still holds
    return sample, sample[:header] + _packed(stated)[:length] + sample[header + length :]


def test_a_track_is_held_to_its_sequence_header_and_a_still_to_its_frame() -> None:
    """The frame header libavif writes is read where it says so. A track's sample entry
    states its largest frame, which may come after a smaller first one; the still item
    beside it is that first frame, and is refused for claiming more."""
    animated = _animated("RGB")
    sample, halved = _first_frame_stating(animated, (100, 50))
    assert avif._first_frame(sample) == (200, 100)
    assert avif._first_frame(halved) == (100, 50)
    assert avif._first_frame(halved, as_stated=False) == (200, 100)
    with pytest.raises(InvalidImage, match=r"^the AVIF file is damaged: it claims 200×100"):
        check_container(animated.replace(sample, halved), AVIF, 10)


def test_a_sequence_header_of_endless_zeros_is_read_no_further_than_a_number_can_be() -> None:
    """Timing information, then 16 MB of zeros (a sample entry's `av1C` may be that big)
    where a variable-length number belongs: read bit by bit, 2 s a megabyte (the module's
    timeout stops that)."""
    start = _bits((0, 3), (0, 1), (0, 1), (1, 1), (1001, 32), (30000, 32), (1, 1))
    unit = bytes([avif._OBU_SEQUENCE_HEADER << 3])  # without a size: to the end of the data
    assert avif._first_frame(unit + _packed(start) + bytes(16 << 20)) is None
