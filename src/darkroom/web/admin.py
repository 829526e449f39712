"""Operations: `/metrics` for Prometheus, and the admin page with the last 24 hours'
figures (`/admin`, and `/admin/stats` as JSON)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC
from html import escape
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from darkroom.adapters.prometheus import CONTENT_TYPE
from darkroom.services.gallery import utcnow
from darkroom.services.stats import Figures, figures
from darkroom.web.deps import DarkroomDep, Operator
from darkroom.web.schemas import ErrorOut

router = APIRouter(tags=["operations"], dependencies=[Operator])


@router.get("/metrics", include_in_schema=False)
async def metrics(dr: DarkroomDep) -> Response:
    if dr.metrics is None:
        raise HTTPException(404, "metrics are not kept here (DARKROOM_METRICS)")
    return Response(await run_in_threadpool(dr.metrics.render), media_type=CONTENT_TYPE)


@router.get(
    "/admin/stats",
    responses={404: {"model": ErrorOut, "description": "Sign-in is on and no ops token came."}},
)
async def admin_stats(dr: DarkroomDep) -> dict[str, Any]:
    """The last 24 hours: processing runs, errors, durations, stores and catalog. Stores and
    catalog are counted at most once a minute, in the background while the last count is
    shown: `counted_at` says when, `counted_seconds_ago` how long before this answer."""
    found = await run_in_threadpool(_figures, dr)
    return asdict(found) | {
        "catalog_size": found.catalog_size,
        "counted_seconds_ago": round(_age(found), 1),
    }


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_page(dr: DarkroomDep) -> HTMLResponse:
    return HTMLResponse(page(await run_in_threadpool(_figures, dr)))


def _figures(dr: Any) -> Figures:
    return figures(dr.runs, dr.counts.get(), utcnow())


def _age(found: Figures) -> float:
    return max(0.0, (utcnow() - found.counted_at).total_seconds())


def page(found: Figures) -> str:
    rows = [
        ("Processing runs", f"{found.runs}"),
        ("Errors", f"{found.errors} ({found.error_rate:.1%})"),
        ("Average duration", f"{found.average_seconds:.3f} s"),
        ("p99 duration", f"{found.p99_seconds:.3f} s"),
        *((f"Store {s.name}", f"{s.objects} objects, {_size(s.bytes)}") for s in found.stores),
        ("Catalog", f"{found.catalog_size} photos"),
        *((f"… {status}", str(count)) for status, count in sorted(found.photos.items())),
    ]
    cells = "\n".join(
        f"<tr><th scope=row>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows
    )
    since = escape(found.since.isoformat(timespec="minutes"))
    counted = escape(found.counted_at.astimezone(UTC).strftime("%H:%M:%S"))
    age = _age(found)
    ago = f"{age:.0f} s ago" if age < 120 else f"{age / 60:.0f} min ago"
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>darkroom · admin</title><link rel="stylesheet" href="styles.css"></head>
<body><main class="admin">
<h1>darkroom: the last 24 hours</h1>
<table><caption>Since {since} UTC</caption>
{cells}
</table>
<p class="counted">Stores and catalog counted at {counted} UTC ({ago}, in
{found.counting_seconds:.1f} s); they are counted again at most once a minute.</p>
<p><a href="admin/stats">As JSON</a> · <a href="metrics">Prometheus metrics</a>
· <a href="./">Gallery</a></p>
</main></body></html>
"""


def _size(count: int) -> str:
    size, unit = float(count), "bytes"
    for bigger in ("KB", "MB", "GB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
