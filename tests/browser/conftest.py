"""The gallery page in Debian's headless Chromium, driven by Playwright, against the real
server started as a subprocess (`tests.e2e.conftest.Server`).

Chromium comes from `apt-get install chromium` (`scripts/ensure-browser.sh`), never from
`playwright install`. A missing browser fails the run; it is never skipped.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.corpus import CORPUS
from tests.e2e.conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""What a deployment will send; the page must work under it (no inline script or style)."""
TIMEOUT_MS = 30_000
"""For actions and assertions alike: the machine may be busy with other tests."""
expect.set_options(timeout=TIMEOUT_MS)


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    touch: bool

    @property
    def viewport(self) -> ViewportSize:
        return {"width": self.width, "height": self.height}


PHONE = Screen("phone", 390, 844, touch=True)
DESKTOP = Screen("desktop", 1280, 800, touch=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/ensure-browser.sh")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def server_with(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Server]]:
    """`server_with(env)`: the real server, started with those settings; stopped when the
    test ends."""
    started: list[Server] = []

    def start(env: dict[str, str]) -> Server:
        running = Server(tmp_path / "data", env=env)
        started.append(running)
        running.start()
        return running

    yield start
    for running in started:
        running.stop()


SEED = [
    ("N01_png16_724x1024.png", ""),
    ("L01_issue266_22mp.jpg", ""),
    ("G02_anim_300.gif", ""),
    ("A01_alpha_paper_2048.png", "Paper with pencil and paint"),
    ("P02_japanese_shop_12mp_prog.jpg", "A shop front in Japan at dusk"),
    ("W02_webp_tree_1024.webp", "A tree in full bloom"),
    ("L04_galaxy_s7e_12mp.jpg", ""),
    ("O02_canon_1000d_10mp_o6.jpg", "Walking past the wall of light"),
    ("H02_iphone8_12mp.heic", "The office, taken on an iPhone 8"),
    ("S01_canon_sd300_2mp.jpg", ""),
    ("M01_flickr_saw_6mp.jpg", "An old saw"),
    ("C01_cmyk_canon300d.jpg", ""),
    ("L07_moto_g9_16mp.jpg", ""),
]
"""Oldest first; the gallery shows them the other way round."""


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with the photos of `SEED`, uploaded through the API, for tests that only
    look (and leave it as they found it)."""
    running = Server(tmp_path_factory.mktemp("seeded") / "data")
    running.start()
    try:
        with httpx.Client(base_url=running.url, timeout=120) as client:
            for name, description in SEED:
                answer = client.post(
                    "/upload",
                    files={"file": (name, (CORPUS / name).read_bytes())},
                    data={"description": description},
                )
                assert answer.status_code == 201, answer.text
        yield running
    finally:
        running.stop()


@dataclass
class Watch:
    """What a page did that a test must not let pass: script errors, requests that leave
    the server, CSP violations."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # 4xx answers the page handles (a refused upload, a deleted photo) are logged too.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def request(self, request: Request) -> None:
        url = request.url
        if not (url.startswith(self.origin + "/") or url.startswith(("data:", "blob:"))):
            self.foreign.append(url)

    def check(self) -> None:
        assert not self.errors, f"the page reported errors: {self.errors}"
        assert not self.foreign, f"the page fetched from elsewhere: {self.foreign}"


def new_context(browser: Browser, screen: Screen, **options: Any) -> BrowserContext:
    context = browser.new_context(
        viewport=screen.viewport,
        device_scale_factor=1,
        has_touch=screen.touch,
        is_mobile=screen.touch,
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def serve_document(page: Page, server: Server, path: str, prefix: str) -> None:
    """Adds `CSP` to the page's document, as a deployment will; with a `prefix`, serves the
    whole site under it (`/gallery/config` → `/config`), as CloudFront with a path would."""
    document = server.url + prefix + path

    def handle(route: Route) -> None:
        url = route.request.url
        try:
            response = route.fetch(url=server.url + url[len(server.url + prefix) :])
            headers = response.headers
            if url == document:
                headers = headers | {"content-security-policy": CSP}
            route.fulfill(response=response, headers=headers)
        except Error as error:
            # A reload or a navigation while this request was on its way cancelled it: it
            # has nobody left to answer.
            if "disposed" not in str(error) and "closed" not in str(error):
                raise

    page.route(f"{server.url}{prefix}/**" if prefix else document, handle)


def sign_in_page(
    browser: Browser, server: Server, screen: Screen = DESKTOP
) -> tuple[BrowserContext, Page, Watch]:
    """The page of a server with sign-in, loaded and watched under the CSP; it waits for
    someone to sign in, so it is not `ready` yet. The caller closes the context, then
    checks the watch."""
    context = new_context(browser, screen)
    watch = Watch(server.url)
    page = context.new_page()
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("request", watch.request)
    serve_document(page, server, "/", "")
    page.goto(server.url + "/")
    return context, page, watch


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """`open_page(server, screen, path="/", prefix="", before=None, ready=True,
    **context_options)`: the gallery, loaded, watched, under the CSP; checked for errors when
    the test ends. `before` gets the page before it loads (to route requests); with `ready`
    false, the page is not waited for."""
    contexts: list[tuple[BrowserContext, Watch]] = []

    def open_(
        server: Server,
        screen: Screen,
        path: str = "/",
        prefix: str = "",
        before: Callable[[Page], None] | None = None,
        ready: bool = True,
        **options: Any,
    ) -> Page:
        context = new_context(browser, screen, **options)
        watch = Watch(server.url)
        contexts.append((context, watch))
        page = context.new_page()
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.on("request", watch.request)
        serve_document(page, server, path, prefix)
        if before is not None:
            before(page)
        page.goto(server.url + prefix + path)
        if ready:
            page.wait_for_selector("html[data-ready]")
        return page

    yield open_
    for context, watch in contexts:
        context.close()
        watch.check()


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())  # evaluated, not a <script>: the CSP allows no inline one
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in results if v["impact"] in ("serious", "critical")]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            {
                "id": v["id"],
                "help": v["help"],
                "nodes": [(n["target"], n.get("failureSummary", "")) for n in v["nodes"][:5]],
            }
            for v in violations
        ],
        indent=1,
    )


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    """A small JPEG of one colour; each colour gives other bytes, so no duplicates."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
