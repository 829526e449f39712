"""The catalog summary of hostile EXIF blocks, written byte by byte (Pillow's writer would
not write most of them): it keeps what a camera could have meant, drops the rest, and never
costs the photo."""

from __future__ import annotations

import struct

import pytest

from darkroom.domain import VariantSpec
from darkroom.imaging import develop
from tests.unit.imaging_helpers import encode, sample_image

pytestmark = pytest.mark.timeout(20)

SPECS = (VariantSpec("small", 64, 64),)

Field = tuple[int, int, int, bytes | int]
"""A field's tag, type and count, then its value's bytes, or the index of an IFD it points
at (written as a LONG)."""

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_BYTE, _ASCII, _SHORT, _LONG, _UNDEFINED = 1, 2, 3, 4, 7
_RATIONAL, _SLONG, _SRATIONAL, _DOUBLE, _LONG8 = 5, 9, 10, 12, 16


def _tiff(*ifds: list[Field]) -> bytes:
    """A big-endian TIFF structure of `ifds`, each followed by its values."""
    starts, at = [], 8
    for fields in ifds:
        starts.append(at)
        at += 6 + 12 * len(fields) + sum(len(_outside(v)) for *_, v in fields)
    out = bytearray(b"MM\x00*" + struct.pack(">I", 8))
    for start, fields in zip(starts, ifds, strict=True):
        values = bytearray()
        out += struct.pack(">H", len(fields))
        for tag, kind, count, value in fields:
            out += struct.pack(">HHI", tag, kind, count)
            if isinstance(value, int):
                out += struct.pack(">I", starts[value])
            elif _outside(value):
                out += struct.pack(">I", start + 6 + 12 * len(fields) + len(values))
                values += value
            else:
                out += value.ljust(4, b"\x00")
        out += struct.pack(">I", 0) + values
    return bytes(out)


def _outside(value: bytes | int) -> bytes:
    """The bytes of a value written after its IFD (longer than the four bytes of a field),
    none for one inside its field."""
    return value if isinstance(value, bytes) and len(value) > 4 else b""


def _jpeg(*ifds: list[Field]) -> bytes:
    return encode(sample_image((60, 40)), "JPEG", exif=b"Exif\x00\x00" + _tiff(*ifds))


def _ascii(text: bytes) -> tuple[int, int, bytes]:
    return _ASCII, len(text) + 1, text + b"\x00"


def _rationals(*pairs: tuple[int, int], signed: bool = False) -> bytes:
    return b"".join(struct.pack(">ii" if signed else ">II", *pair) for pair in pairs)


def _make(name: bytes) -> Field:
    return (0x010F, *_ascii(name))


@pytest.mark.parametrize("gps", [False, True])
def test_a_gps_block_said_to_be_past_two_to_the_63_does_not_cost_the_photo(gps: bool) -> None:
    """Its pointer as a LONG8: Pillow seeks there and raises OverflowError."""
    pointer: Field = (_GPS_IFD, _LONG8, 1, struct.pack(">Q", 2**64 - 1))
    result = develop(_jpeg([_make(b"Canon"), pointer]), SPECS, include_gps=gps)
    assert result.info.metadata == {"camera_make": "Canon"}


def test_an_exif_block_said_to_be_past_two_to_the_63_leaves_the_camera() -> None:
    """As a GPS block's: the Exif IFD's pointer as a LONG8, which Pillow seeks to and raises
    OverflowError; the camera named in IFD0 is still the camera."""
    pointer: Field = (_EXIF_IFD, _LONG8, 1, struct.pack(">Q", 2**64 - 1))
    result = develop(_jpeg([_make(b"Canon"), pointer]), SPECS)
    assert result.info.metadata == {"camera_make": "Canon"}


_NORTH: Field = (1, *_ascii(b"N"))


def _gps_at(
    latitude: tuple[int, int, int], longitude: tuple[int, int, int], latitude_ref: Field = _NORTH
) -> bytes:
    gps: list[Field] = [
        latitude_ref,
        (2, _RATIONAL, 3, _rationals(*((d, 1) for d in latitude))),
        (3, *_ascii(b"E")),
        (4, _RATIONAL, 3, _rationals(*((d, 1) for d in longitude))),
    ]
    return _jpeg([_make(b"Canon"), (_GPS_IFD, _LONG, 1, 1)], gps)


def test_a_position_on_earth_is_kept() -> None:
    metadata = develop(_gps_at((48, 51, 30), (2, 21, 0)), SPECS, include_gps=True).info.metadata
    assert metadata["gps_latitude"] == pytest.approx(48.8583333)
    assert metadata["gps_longitude"] == pytest.approx(2.35)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [((1000, 0, 0), (2, 21, 0)), ((48, 51, 30), (4_000_000_000, 0, 0)), ((91, 0, 0), (0, 0, 0))],
)
def test_a_position_off_the_earth_is_not_kept(
    latitude: tuple[int, int, int], longitude: tuple[int, int, int]
) -> None:
    metadata = develop(_gps_at(latitude, longitude), SPECS, include_gps=True).info.metadata
    assert "gps_latitude" not in metadata
    assert "gps_longitude" not in metadata
    assert metadata["camera_make"] == "Canon"


@pytest.mark.parametrize(
    "ref",
    [
        (1, *_ascii(b"X")),
        (1, _ASCII, 2, b"\x00\x00"),  # an empty reference, NUL-padded
    ],
)
def test_a_position_whose_hemisphere_is_not_named_is_not_kept(ref: Field) -> None:
    """Taken as north, a latitude meant as south would be a place the photo was not taken."""
    data = _gps_at((33, 51, 0), (151, 12, 0), latitude_ref=ref)
    metadata = develop(data, SPECS, include_gps=True).info.metadata
    assert "gps_latitude" not in metadata
    assert "gps_longitude" not in metadata


@pytest.mark.parametrize(
    "ref",
    [(1, _BYTE, 2, b"S\x00"), (1, _UNDEFINED, 1, b"S"), (1, *_ascii(b"s")), (1, *_ascii(b"S "))],
)
def test_a_southern_reference_written_loosely_is_south(ref: Field) -> None:
    """As BYTE or UNDEFINED (Pillow reads bytes), in lower case, or padded with a space."""
    data = _gps_at((33, 51, 0), (151, 12, 0), latitude_ref=ref)
    metadata = develop(data, SPECS, include_gps=True).info.metadata
    assert metadata["gps_latitude"] == pytest.approx(-33.85)
    assert metadata["gps_longitude"] == pytest.approx(151.2)


def test_a_position_with_a_negative_part_is_not_kept() -> None:
    """Signed rationals: -33° 51' is neither -33.85 nor -32.15 (each part's own sign), and
    the reference says the hemisphere already."""
    gps: list[Field] = [
        (1, *_ascii(b"S")),
        (2, _SRATIONAL, 3, _rationals((-33, 1), (51, 1), (0, 1), signed=True)),
        (3, *_ascii(b"E")),
        (4, _RATIONAL, 3, _rationals((151, 1), (12, 1), (0, 1))),
    ]
    data = _jpeg([_make(b"Canon"), (_GPS_IFD, _LONG, 1, 1)], gps)
    metadata = develop(data, SPECS, include_gps=True).info.metadata
    assert metadata == {"camera_make": "Canon"}


def test_text_ends_at_its_nul_and_carries_no_control_characters() -> None:
    """Bytes after an EXIF string's NUL are not part of it, and an escape sequence would
    recolour the terminal `darkroom` prints the summary to."""
    fields: list[Field] = [
        _make(b"Canon\x00\x00garbage"),
        (0x0110, *_ascii(b"EOS \x1b[31m5D\x07")),
    ]
    metadata = develop(_jpeg(fields), SPECS).info.metadata
    assert metadata["camera_make"] == "Canon"
    assert metadata["camera_model"] == "EOS [31m5D"


def test_text_in_utf_8_is_read_as_utf_8_and_other_bytes_as_latin_1() -> None:
    """EXIF says ASCII; phones and exiftool write UTF-8 there, which read as Latin-1 came
    out as "CafÃ©" for "Café". Bytes that are not UTF-8 stay Latin-1's."""
    fields: list[Field] = [
        _make("Škoda €".encode()),
        (0x0110, *_ascii("华为 P30".encode())),
        (_EXIF_IFD, _LONG, 1, 1),
    ]
    data = _jpeg(fields, [(0xA434, *_ascii("Objektiv für Sony".encode("latin-1")))])
    metadata = develop(data, SPECS).info.metadata
    assert metadata == {
        "camera_make": "Škoda €",
        "camera_model": "华为 P30",
        "lens": "Objektiv für Sony",
    }


@pytest.mark.parametrize(
    "field",
    [
        (0x010F, _SHORT, 1, struct.pack(">H", 5)),  # Make as a number
        (0x0110, _RATIONAL, 1, _rationals((7, 1))),  # Model as a number
    ],
)
def test_a_name_written_as_a_number_is_not_kept(field: Field) -> None:
    """A camera's or lens's name is text: 5 names nothing."""
    assert develop(_jpeg([field]), SPECS).info.metadata == {}


@pytest.mark.parametrize("original", [b"    :  :     :  :  ", b"0000:00:00 00:00:00"])
def test_an_unknown_original_date_leaves_the_date_of_the_file(original: bytes) -> None:
    """The EXIF standard's unknown date (blanks, or zeros as cameras without a set clock
    write it) is as if there were none: the summary falls back to DateTime, as without
    DateTimeOriginal."""
    data = _jpeg(
        [_make(b"Canon"), (0x0132, *_ascii(b"2021:01:02 03:04:05")), (_EXIF_IFD, _LONG, 1, 1)],
        [(0x9003, *_ascii(original))],
    )
    assert develop(data, SPECS).info.metadata["taken_at"] == "2021-01-02T03:04:05"


def _exposure(*fields: Field) -> bytes:
    return _jpeg([_make(b"Canon"), (_EXIF_IFD, _LONG, 1, 1)], list(fields))


def test_plausible_exposure_numbers_are_kept() -> None:
    data = _exposure(
        (0x829A, _RATIONAL, 1, _rationals((1, 250))),
        (0x829D, _RATIONAL, 1, _rationals((28, 10))),
        (0x8827, _SHORT, 1, struct.pack(">H", 400)),
        (0x920A, _RATIONAL, 1, _rationals((50, 1))),
    )
    metadata = develop(data, SPECS).info.metadata
    assert metadata == {
        "camera_make": "Canon",
        "exposure_time": 0.004,
        "f_number": 2.8,
        "iso": 400,
        "focal_length": 50.0,
    }


@pytest.mark.parametrize("speed", [32_000, 64_000])
def test_a_short_exposure_keeps_its_digits(speed: int) -> None:
    """An electronic shutter's 1/32000 s is 3.125e-05 s: to six decimal places it was
    3.1e-05, shown as 1/32258 s."""
    data = _exposure((0x829A, _RATIONAL, 1, _rationals((1, speed))))
    assert develop(data, SPECS).info.metadata["exposure_time"] == 1 / speed


@pytest.mark.parametrize(
    "field",
    [
        (0x829A, _DOUBLE, 1, struct.pack(">d", 1e308)),  # exposure of 1e308 s
        (0x829A, _SRATIONAL, 1, _rationals((-1, 250), signed=True)),
        (0x829D, _SRATIONAL, 1, _rationals((-28, 10), signed=True)),  # f/-2.8
        (0x829D, _RATIONAL, 1, _rationals((0, 1))),  # f/0
        (0x8827, _SLONG, 1, struct.pack(">i", -400)),  # ISO -400
        (0x8827, _LONG8, 1, struct.pack(">Q", 2**64 - 1)),
        (0x920A, _RATIONAL, 1, _rationals((0, 0))),  # NaN
    ],
)
def test_an_impossible_exposure_number_is_not_kept(field: Field) -> None:
    assert develop(_exposure(field), SPECS).info.metadata == {"camera_make": "Canon"}
