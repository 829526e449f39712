"""The FastAPI application: API, signed-file routes, the page, and the in-process worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from darkroom import __version__, logs
from darkroom.bootstrap import Darkroom
from darkroom.errors import DarkroomError
from darkroom.signing import FILES_PREFIX
from darkroom.web import admin, errors, files, legacy, page_config, photos
from darkroom.web.limits import BodyLimit
from darkroom.web.observe import Observe

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SMALL_BODY = 1024 * 1024


def create_app(dr: Darkroom, run_workers: bool = True) -> FastAPI:
    """`run_workers=False` when processing happens elsewhere (a Lambda, `darkroom process`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_workers:
            dr.start_workers()
        try:
            yield
        finally:
            if run_workers:
                await run_in_threadpool(dr.stop_workers)

    app = FastAPI(
        title="darkroom",
        version=__version__,
        summary="A photo gallery with an event-driven image pipeline.",
        lifespan=lifespan,
    )
    app.state.darkroom = dr
    logs.correlate_records()
    errors.install(app)
    app.include_router(photos.router)
    app.include_router(files.router)
    app.include_router(legacy.router)
    app.include_router(page_config.router)
    app.include_router(admin.router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        try:
            await run_in_threadpool(dr.catalog.list, None, 1)
        except DarkroomError as exc:
            return JSONResponse({"status": "unavailable", "message": str(exc)}, 503)
        return JSONResponse({"status": "ok", "version": __version__})

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")

    upload_limit = dr.settings.max_upload_bytes * 4 // 3 + 64 * 1024

    def limit_for(path: str) -> int:
        if path == "/upload" or path.startswith(FILES_PREFIX + "/"):
            return upload_limit
        return SMALL_BODY

    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(Observe, metrics=dr.metrics)
    return app
