"""The FastAPI application: API, signed-file routes, the page, and the in-process worker."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Scope

from darkroom import __version__, logs
from darkroom.bootstrap import Darkroom
from darkroom.errors import DarkroomError
from darkroom.services.gallery import LOCAL_OWNER
from darkroom.signing import FILES_PREFIX
from darkroom.web import accounts, admin, errors, files, legacy, page_config, photos, shares
from darkroom.web.compression import Compressed
from darkroom.web.head import HeadAsGet
from darkroom.web.headers import (
    SecurityHeaders,
    content_security_policy,
    hide_secrets_in_access_log,
)
from darkroom.web.limits import BodyLimit
from darkroom.web.observe import Observe
from darkroom.web.ratelimit import RateLimits

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
SMALL_BODY = 1024 * 1024


class PageFiles(StaticFiles):
    """The page's files, each asked after again before use (`no-cache`: a 304 while it is
    the same): with no Cache-Control a browser keeps a file as long as it guesses from its
    age, and after an upgrade could run the old scripts against the new API."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


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
    app.include_router(accounts.router)
    app.include_router(shares.router)
    s = dr.settings
    app.state.rate_limits = RateLimits(
        {"sign_in": s.rate_sign_in, "upload": s.rate_upload, "listing": s.rate_listing}
    )
    hide_secrets_in_access_log((shares.SHARED_PREFIX,))
    app.include_router(admin.router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        try:
            # One owner's newest photo: an index read on every backend (everyone's would scan
            # a DynamoDB table whole, on each probe).
            await run_in_threadpool(dr.catalog.list, LOCAL_OWNER, 1)
        except DarkroomError as exc:
            return JSONResponse({"status": "unavailable", "message": str(exc)}, 503)
        return JSONResponse({"status": "ok", "version": __version__})

    app.mount("/", PageFiles(directory=STATIC, html=True), name="page")

    upload_limit = dr.settings.max_upload_bytes * 4 // 3 + 64 * 1024

    def limit_for(path: str) -> int:
        if path == "/upload" or path.startswith(FILES_PREFIX + "/"):
            return upload_limit
        return SMALL_BODY

    app.add_middleware(errors.Unexpected)
    # Inside HeadAsGet: a HEAD is told the length and encoding its GET would have.
    app.add_middleware(Compressed, own_prefix=FILES_PREFIX)
    app.add_middleware(HeadAsGet, own_prefix=FILES_PREFIX)
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(_store_origins(dr)))
    origins = [o.strip() for o in s.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
            allow_headers=["authorization", "content-type"],
            max_age=600,
        )
    app.add_middleware(Observe, metrics=dr.metrics)
    return app


def _store_origins(dr: Darkroom) -> list[str]:
    """Where the page's images and uploads go when a store is not served by darkroom."""
    origins = []
    for store in (dr.originals, dr.variants):
        url = urlsplit(store.presign_get("origin-probe", 60).url)
        if url.scheme and url.netloc:
            origins.append(f"{url.scheme}://{url.netloc}")
    return origins
