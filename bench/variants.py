"""darkroom's `develop()` against naive Pillow and libvips' own cascade, on the shared corpus.

    .venv/bin/python -m bench.variants [--repeat N] [FILE…]

All three make the same five JPEG q85 variants (widths 1024/640/320/150/100) of each file
(the corpus, and four files made from its camera photos: see `derived`),
on one core, in the same run; each engine's peak RSS is read from a fresh process per file.
`bench/README.md` holds the latest figures and what they mean.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# One core for every engine, libvips' own thread pool included; set before pyvips loads.
os.environ["VIPS_CONCURRENCY"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pillow_heif
import pyvips
from PIL import Image, ImageOps
from rich.progress import Progress
from tests.corpus import corpus_files
from tests.unit.imaging_helpers import decode, luma, reference_image, roundtrip, ssim

from darkroom.domain import VariantSpec
from darkroom.imaging import develop
from darkroom.imaging.formats import detect

pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = None

WIDTHS = (1024, 640, 320, 150, 100)
SPECS = tuple(VariantSpec(f"w{w}", w, format="jpeg") for w in WIDTHS)
QUALITY = 85
_WIDTH_ONLY: dict[str, object] = {"height": 10_000_000, "size": "down"}
"""For libvips' thumbnail: its largest height (`VIPS_MAX_COORD`), so that only the width
bounds a variant, and `down`, which never enlarges one."""

Outputs = list[bytes]
Engine = Callable[[bytes], Outputs]


def darkroom(data: bytes) -> Outputs:
    return [v.data for v in develop(data, SPECS).variants]


def naive_pillow(data: bytes) -> Outputs:
    """What most code does: decode everything, then resize each variant from the full image."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    outputs = []
    for width in WIDTHS:
        size = image.size
        if width < image.width:
            size = (width, max(1, round(image.height * width / image.width)))
        out = io.BytesIO()
        image.resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=QUALITY)
        outputs.append(out.getvalue())
    return outputs


def libvips(data: bytes) -> Outputs:
    """libvips' best: shrink-on-load to the largest width, then `thumbnail_image` down the
    cascade. HEIC goes through pillow-heif first: pyvips-binary carries no HEVC decoder.
    The widths are widths, as darkroom's: libvips' own default fits a square box, which
    would make a portrait photo's variants less than half as many pixels."""
    if detect(data).name == "HEIF":
        array = np.asarray(pillow_heif.open_heif(data))
        image = pyvips.Image.new_from_array(array, interpretation="srgb")
        image = image.thumbnail_image(WIDTHS[0], **_WIDTH_ONLY)
    else:
        image = pyvips.Image.thumbnail_buffer(data, WIDTHS[0], **_WIDTH_ONLY)
    # Each step is made once in memory and the next made from it (a lazy chain would read
    # the sequential source again for every output).
    image = image.copy_memory()
    outputs = []
    for width in WIDTHS:
        if image.width > width:
            image = image.thumbnail_image(width, **_WIDTH_ONLY).copy_memory()
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        outputs.append(image.jpegsave_buffer(Q=QUALITY, keep="none"))
    return outputs


ENGINES: dict[str, Engine] = {"darkroom": darkroom, "libvips": libvips, "pillow": naive_pillow}


@dataclass(frozen=True)
class Result:
    file: str
    kind: str
    ms: dict[str, float]
    rss_mb: dict[str, float]
    worst_ssim: dict[str, float]
    """Worst change of SSIM against Pillow LANCZOS from the full image, both through q85."""


def kind_of(data: bytes) -> str:
    """The image class a file belongs to, read from its bytes."""
    image = Image.open(io.BytesIO(data))
    megapixels = image.width * image.height / 1e6
    fmt = detect(data).name
    if fmt == "JPEG":
        progressive = bool(image.info.get("progressive") or image.info.get("progression"))
        rotated = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
        shape = "progressive" if progressive else "rotated" if rotated else "baseline"
        return f"JPEG {shape} {megapixels:.0f} MP"
    return f"{fmt} {megapixels:.0f} MP"


def median_ms(data: bytes, repeat: int) -> dict[str, float]:
    """Median ms of each engine. The engines take turns within each round, so a burst of
    load elsewhere on the machine falls on all of them, not on one. Each timed run follows
    an untimed one of the same engine, as in a worker that processes photo after photo:
    right after another engine, the C allocator has handed that one's freed memory back to
    the system, and big buffers cost page faults again (5–8 % of darkroom's JPEG times;
    libvips keeps its own buffers)."""
    for engine in ENGINES.values():
        engine(data)  # warm caches and lazy imports
    times: dict[str, list[float]] = {name: [] for name in ENGINES}
    for _ in range(repeat):
        for name, engine in ENGINES.items():
            engine(data)
            start = time.perf_counter()
            engine(data)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def worst_ssim(outputs: Outputs, data: bytes) -> float:
    reference = reference_image(data)
    worst = 1.0
    for encoded in outputs:
        got = decode(encoded)
        truth = reference.resize(got.size, Image.Resampling.LANCZOS)
        truth_luma = luma(truth)
        baseline = ssim(luma(roundtrip(truth, "JPEG", QUALITY)), truth_luma)
        worst = min(worst, ssim(luma(got), truth_luma) - baseline)
    return worst


def peak_rss_mb(engine: str, path: Path) -> float:
    """The whole process's peak RSS for one file, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.variants", "--rss-of", engine, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip())


def same_sizes(data: bytes) -> None:
    """Every engine makes the same variants: the same widths, heights within a pixel."""
    sizes = {name: [decode(o).size for o in engine(data)] for name, engine in ENGINES.items()}
    for name, made in sizes.items():
        for (w, h), (ref_w, ref_h) in zip(made, sizes["darkroom"], strict=True):
            if w != ref_w or abs(h - ref_h) > 1:
                raise SystemExit(f"{name} made {made}, darkroom {sizes['darkroom']}")


def measure(path: Path, repeat: int) -> Result:
    data = path.read_bytes()
    same_sizes(data)
    return Result(
        file=path.name,
        kind=kind_of(data),
        ms=median_ms(data, repeat),
        rss_mb={name: peak_rss_mb(name, path) for name in ENGINES},
        worst_ssim={
            name: worst_ssim(ENGINES[name](data), data) for name in ("darkroom", "libvips")
        },
    )


def report(results: Sequence[Result]) -> str:
    """A Markdown table, one row per file, and a summary line."""
    lines = [
        f"Five JPEG q85 variants ({'/'.join(map(str, WIDTHS))}), one core, median ms.",
        "",
        "| file | class | darkroom | libvips | naive Pillow | ÷ libvips | ÷ Pillow "
        "| peak RSS MB darkroom / libvips | worst ΔSSIM darkroom / libvips |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.file} | {r.kind} | {r.ms['darkroom']:.0f} | {r.ms['libvips']:.0f} "
            f"| {r.ms['pillow']:.0f} | {r.ms['darkroom'] / r.ms['libvips']:.2f}× "
            f"| {r.ms['darkroom'] / r.ms['pillow']:.2f}× "
            f"| {r.rss_mb['darkroom']:.0f} / {r.rss_mb['libvips']:.0f} "
            f"| {r.worst_ssim['darkroom']:+.4f} / {r.worst_ssim['libvips']:+.4f} |"
        )
    ratios = [r.ms["darkroom"] / r.ms["libvips"] for r in results]
    lines += [
        "",
        f"darkroom ÷ libvips: median {statistics.median(ratios):.2f}×, worst {max(ratios):.2f}×;"
        f" worst ΔSSIM {min(r.worst_ssim['darkroom'] for r in results):+.4f}",
    ]
    return "\n".join(lines)


def derived(folder: Path) -> list[Path]:
    """Classes of photo the corpus lacks, made from its camera photos: a 12 MP WebP and PNG
    (from the phone photo, upright, no EXIF), the 22 MP camera photo as a progressive JPEG,
    and the 16 MP phone photo stored sideways (EXIF orientation 6), both with their EXIF."""

    def corpus(prefix: str) -> Path:
        return next(p for p in corpus_files() if p.name.startswith(prefix))

    made = []
    with Image.open(corpus("L04_")) as image:
        photo = ImageOps.exif_transpose(image).convert("RGB")
    for name, fmt, options in (
        ("derived_12mp.webp", "WEBP", {"quality": 90}),
        ("derived_12mp.png", "PNG", {"compress_level": 6}),
    ):
        made.append(folder / name)
        photo.save(made[-1], fmt, **options)
    with Image.open(corpus("L01_")) as image:
        made.append(folder / "derived_22mp_progressive.jpg")
        image.save(
            made[-1],
            "JPEG",
            quality=92,
            progressive=True,
            exif=image.getexif(),
            icc_profile=image.info.get("icc_profile"),
        )
    with Image.open(corpus("L07_")) as image:
        exif = image.getexif()
        exif[0x0112] = 6
        made.append(folder / "derived_16mp_o6.jpg")
        image.transpose(Image.Transpose.ROTATE_90).save(made[-1], "JPEG", quality=90, exif=exif)
    return made


def rss_of(engine: str, path: Path) -> None:
    """Prints the peak RSS in MB. `VmHWM`, not `ru_maxrss`: Linux carries the latter over
    from the parent through fork and exec, so a big parent would hide the engine's peak."""
    ENGINES[engine](path.read_bytes())
    status = Path("/proc/self/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    print(int(kilobytes) / 1024)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="images (default: the corpus)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per engine and file")
    parser.add_argument("--rss-of", metavar="ENGINE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.rss_of:
        rss_of(args.rss_of, args.files[0])
        return
    scratch = Path(tempfile.mkdtemp(prefix="darkroom-bench-"))
    files = args.files or [*corpus_files(), *derived(scratch)]
    results = []
    with Progress(transient=True) as progress:
        for path in progress.track(files, description="measuring"):
            try:
                results.append(measure(path, args.repeat))
            except Exception as exc:  # one engine refusing a file is a finding, not the end
                progress.console.print(f"{path.name}: not measured, {type(exc).__name__}: {exc}")
    shutil.rmtree(scratch)
    print(report(results))


if __name__ == "__main__":
    main()
