"""Where the shared corpus of real photos and awkward files lives."""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff"}
)


def _locate() -> Path:
    """`DARKROOM_CORPUS`, else `../shared/corpus` beside the repository, else the workplace's
    copy (a clone made elsewhere, such as CI's, has no `../shared`)."""
    if configured := os.environ.get("DARKROOM_CORPUS"):
        return Path(configured)
    beside = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    workplace = Path("/work/shared/corpus")
    return beside if beside.is_dir() or not workplace.is_dir() else workplace


CORPUS = _locate()


def corpus_files() -> list[Path]:
    """Every image of the shared corpus. A missing corpus fails the run, never skips it."""
    files = sorted(p for p in CORPUS.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RuntimeError(f"no test corpus at {CORPUS}; set DARKROOM_CORPUS")
    return files


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()
