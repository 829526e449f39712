"""HEAD on every route: FastAPI's routes answer only the methods they name."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """HEAD answered as GET, without the body (a monitor that checks with HEAD saw 404s from
    the page's files behind the API). Paths under `own_prefix` answer HEAD themselves (a
    file on disk is not read for it)."""

    def __init__(self, app: ASGIApp, own_prefix: str) -> None:
        self.app = app
        self.own_prefix = own_prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or scope["path"].startswith(self.own_prefix)
        ):
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
            elif not ended:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            # the route the router matched, for the metrics of the request as it came
            for key in ("route", "endpoint", "path_params"):
                if key in as_get:
                    scope[key] = as_get[key]
