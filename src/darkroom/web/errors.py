"""One table from darkroom's errors to HTTP answers, all as `{"error", "message"}`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darkroom import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DarkroomError], int] = {
    errors.BadRequest: 400,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Unsupported: 415,
    errors.InvalidImage: 422,
    errors.Unavailable: 503,
    errors.Unauthorized: 401,
    errors.TooManyRequests: 429,
}
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": code, "message": message, **extra}


def invalid_fields(problems: Sequence[Any], *, located: bool = True) -> str:
    """The first five problems pydantic found, `field: what`. A request's problems are
    `located` (their first step says body, query or path), which the caller needs not read."""
    parts = []
    for problem in problems[:5]:
        steps = [str(step) for step in problem["loc"]]
        where = ".".join(steps[1:] if located else steps) or (steps[0] if steps else "body")
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts) or "invalid request"


class FieldsChecked(APIRoute):
    """A route whose invalid fields answer 400 `bad_request`, as the error table has it and
    as the upload bodies darkroom reads itself do, where FastAPI's own answer is a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise errors.BadRequest(invalid_fields(exc.errors())) from None

        return checked


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DarkroomError)
    async def _darkroom(request: Request, exc: errors.DarkroomError) -> JSONResponse:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 500)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        if isinstance(exc, errors.TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(error_body(exc.code, str(exc)), status, headers=headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", invalid_fields(exc.errors())), 422)


class Unexpected:
    """An exception no handler knows (a defect) answered as a JSON 500 like every other error,
    and logged with its traceback. Starlette's own last resort answers in plain text, outside
    the middleware that adds the security headers and the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("%s %s: unexpected error", scope["method"], scope["path"])
            if started:
                raise
            body = error_body("internal_error", "darkroom could not answer: the error is logged")
            await JSONResponse(body, 500)(scope, receive, send)
