"""What a decode holds at its peak stays near what the image's size needs, each measured in a
fresh interpreter (see `develop_apart`); what would need more is refused as too large."""

from __future__ import annotations

from tests.unit.imaging_helpers import develop_apart, png_flat

SIDE = 10_000
"""100 MP, the default pixel limit."""


def test_a_transparent_png_is_held_once() -> None:
    """The decoded image was held whole for the alpha check, then premultiplied into a
    second copy: 942 MB at its peak; premultiplied as it is read, 580."""
    png = png_flat(SIDE, SIDE, bytes((200, 100, 50, 128)) * SIDE)
    developing = develop_apart(png)
    assert developing.outcome == "ready"
    assert developing.peak_mb < 750
