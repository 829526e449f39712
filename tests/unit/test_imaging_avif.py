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
) -> bytes:
    """One AV1 image item (id 1) whose `ispe` properties say `claims`; its data in two
    extents, or in the `idat` box, or after a padding unit of `padding` bytes; its property
    associations in the last of `ipma_boxes` boxes (the others empty)."""
    av1, config = _av1()
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
        avif._largest_frame(b"\x12\x00" + frame + av1[2:])


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
