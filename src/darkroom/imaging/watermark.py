"""A text watermark (seed 003's S3-3), drawn on the variants that ask for it (`marking`).

Read with the settings by every process, the API's Lambda too: no imaging library here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Position = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]
POSITIONS: tuple[Position, ...] = ("top-left", "top-right", "bottom-left", "bottom-right", "center")


@dataclass(frozen=True, slots=True)
class Watermark:
    text: str
    variants: frozenset[str]
    """Names of the variants that carry it."""
    position: Position = "bottom-right"
    opacity: float = 0.5
    size: float = 0.25
    """Width of the text as a fraction of the variant's width."""

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a watermark needs text")
        if self.position not in POSITIONS:
            raise ValueError(f"watermark position must be one of {', '.join(POSITIONS)}")
        if not 0 < self.opacity <= 1:
            raise ValueError("watermark opacity must be within (0, 1]")
        if not 0 < self.size <= 1:
            raise ValueError("watermark size must be within (0, 1]")

    @property
    def fingerprint(self) -> str:
        """What changes the pixels, for a photo's recipe."""
        names = ",".join(sorted(self.variants))
        return f"{self.text}|{names}|{self.position}|{self.opacity}|{self.size}"
