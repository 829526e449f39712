"""Pure image functions: bytes in, rendered variants out. No storage, no configuration.

`render()` is the one door the rest of darkroom uses; the engine behind it may change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from darkroom.domain import DEFAULT_VARIANTS, MetadataValue, VariantSpec
from darkroom.imaging.formats import ACCEPTED, BY_CONTENT_TYPE, SNIFF_BYTES, Format, detect
from darkroom.imaging.watermark import Watermark

ENGINE = "darkroom-5"
"""Names the engine in each photo's recipe: a new engine re-renders on `darkroom reprocess`."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Checked from the header, before any pixel is decoded."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_frames: int = 1000
    max_side: int = 65_500

    @property
    def memory_budget(self) -> int:
        """Bytes a decoder may hold on its own, beyond the pixels it gives: what an image of
        three channels at the pixel limit needs at 16 bits a sample (600 MB at 100 MP), as
        a progressive JPEG's coefficients of three unsubsampled channels do."""
        return self.max_pixels * 6


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: Format
    width: int
    """Width as shown, after EXIF orientation."""
    height: int
    frames: int
    has_alpha: bool
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rendered:
    name: str
    data: bytes
    width: int
    height: int
    content_type: str
    extension: str


@dataclass(frozen=True, slots=True)
class Developed:
    info: ImageInfo
    variants: tuple[Rendered, ...]
    blurhash: str = ""
    """A placeholder for the gallery to paint while the variants load (blurha.sh)."""


def develop(
    data: bytes,
    specs: Sequence[VariantSpec] = DEFAULT_VARIANTS,
    limits: Limits = Limits(),
    include_gps: bool = False,
    watermark: Watermark | None = None,
) -> Developed:
    """Validate `data`, read its metadata and render every variant in `specs`, with
    `watermark` on those it names.

    Raises `Unsupported` (not an image), `TooLarge` (over a limit) or `InvalidImage`.
    """
    from darkroom.imaging import engine

    return engine.develop(data, specs, limits, include_gps, watermark)


def render(
    data: bytes, specs: Sequence[VariantSpec] = DEFAULT_VARIANTS, limits: Limits = Limits()
) -> list[Rendered]:
    return list(develop(data, specs, limits).variants)


def probe(data: bytes, limits: Limits = Limits()) -> ImageInfo:
    """Read the header only: format, size, frames. Raises like `develop`."""
    from darkroom.imaging import engine

    return engine.probe(data, limits)


__all__ = [
    "ACCEPTED",
    "BY_CONTENT_TYPE",
    "ENGINE",
    "SNIFF_BYTES",
    "Developed",
    "Format",
    "ImageInfo",
    "Limits",
    "Rendered",
    "Watermark",
    "detect",
    "develop",
    "probe",
    "render",
]
