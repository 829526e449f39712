"""`python -m darkroom …`: serve, import, reprocess, jobs, process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from darkroom import logs
from darkroom.bootstrap import ConfigError, Darkroom, build
from darkroom.config import Settings
from darkroom.domain import PROCESS, DeadLetter, JobState, PhotoStatus
from darkroom.errors import DarkroomError, NotFound, Unsupported
from darkroom.imaging import SNIFF_BYTES, Rendered, detect, develop
from darkroom.ports import DeadLetters, DeliveredQueue
from darkroom.services.gallery import LOCAL_OWNER
from darkroom.services.reprocessing import Queued, Reprocessing, Watched

app = typer.Typer(
    help="darkroom: a photo gallery with an event-driven image pipeline.",
    no_args_is_help=True,
    add_completion=False,
    # Docstrings are prose wrapped at 100 columns: Rich markup keeps each line break
    rich_markup_mode="markdown",
)
jobs_app = typer.Typer(
    help="Processing jobs: list the failed and dead ones, retry them.", rich_markup_mode="markdown"
)
app.add_typer(jobs_app, name="jobs")
console = Console(stderr=True)
SLOW_COUNT = 1.0
"""Seconds of counting after which `stats` says how long it took."""
NAME_MAX = 255
"""Bytes in one file name on Linux's file systems (and macOS's)."""

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Data directory (DARKROOM_DATA_DIR).")
]


def _settings(data: Path | None = None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data is not None:
        values["data_dir"] = data
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            _say(f"darkroom: {_setting_error(error)}", style="red")
        raise typer.Exit(2) from None


def _setting_error(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # about several settings at once: the message names them
        return message
    name = str(error["loc"][0]).upper()
    name = name if name.startswith("DARKROOM_") else f"DARKROOM_{name}"  # an alias is whole
    if message.startswith(name):
        return message
    if "SECRET" in name or "TOKEN" in name:  # not to be shown on a screen or in a log
        return f"{name}: {message}"
    return f"{name}: {message} (not {error['input']!r})"


def _build(settings: Settings) -> Darkroom:
    logs.configure(settings.log_level, settings.log_format)
    try:
        return build(settings)
    except (ConfigError, DarkroomError) as exc:
        _say(f"darkroom: {exc}", style="red")
    except OSError as exc:  # the data directory is a file, or not writable
        why = "it is a file" if isinstance(exc, FileExistsError) else exc.strerror
        _say(f"darkroom: cannot use {exc.filename or settings.data_dir}: {why}", "red")
    raise typer.Exit(2)


def _say(text: str, style: str | None = None) -> None:
    """A line on stderr, as it is: file names and messages are not Rich markup."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data: DataOption = None,
) -> None:
    """Serve the gallery and the API, with processing in this process."""
    import uvicorn

    from darkroom.web.app import create_app

    settings = _settings(data, host=host, port=port)
    listener = _listener(settings.host, settings.port)
    dr = _build(settings)
    _say(f"darkroom on http://{settings.host}:{settings.port}  (data: {settings.data_dir})")
    config = uvicorn.Config(
        create_app(dr),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines go through darkroom's handler: JSON or text like the rest.
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=_KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    with listener, contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    if not server.started:
        raise typer.Exit(3)  # the application's startup failed: uvicorn's own exit status


_KEEP_ALIVE_SECONDS = 75
"""How long an idle connection is kept: longer than a proxy in front keeps its own to the
server (nginx's and AWS load balancers' 60 s). uvicorn's 5 s closed them first, and a
request the proxy sent on one as it closed was answered 502 by the proxy."""


def _listener(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything starts: left to uvicorn, an address in use
    was one log line among the others, after the application (and its worker) had started,
    and exit status 3. Here it is a one-line message and exit status 2, like a bad setting.
    Made a TCP socket by name: asyncio turns Nagle's algorithm off only on connections
    accepted from one, and with it on, each answer on a kept-alive connection (a browser's)
    waited 40 ms for the client's delayed acknowledgement of its headers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        _say(f"darkroom: cannot listen on {host}:{port}: {exc.strerror or exc}", "red")
        raise typer.Exit(2) from None
    return sock


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to import.")],
    description: Annotated[str, typer.Option(help="Description for every photo.")] = "",
    owner: Annotated[
        str,
        typer.Option(
            help="Email of the account the photos belong to, where sign-in is on"
            " (DARKROOM_AUTH); without sign-in they belong to the gallery's one user."
        ),
    ] = "",
    data: DataOption = None,
) -> None:
    """Import image files and folders (recursively); processing happens here, now. Exit
    status 1 if any photo failed to process, or no file could be imported."""
    dr = _build(_settings(data))
    owner_id = LOCAL_OWNER
    if owner:
        try:
            if dr.identity is None:
                raise ConfigError("--owner needs sign-in: set DARKROOM_AUTH")
            owner_id = dr.identity.owner_of(owner)
        except (ConfigError, DarkroomError) as exc:
            _say(f"darkroom: {exc}", "red")
            raise typer.Exit(2) from None
    files = sorted(_files(paths))
    added: dict[str, Path] = {}
    duplicates = skipped = 0
    with _progress() as progress:
        task = progress.add_task("importing", total=len(files))
        for path in files:
            progress.update(task, description=escape(_shown(path.name)[:40]))
            reason = _unfit(path, dr.settings.max_upload_bytes)
            if reason is None:
                try:
                    uploaded = dr.gallery.upload(
                        owner_id, path.read_bytes(), path.name, description
                    )
                except (DarkroomError, OSError) as exc:
                    reason = _why(exc)
                else:
                    duplicates += uploaded.duplicate
                    if not uploaded.duplicate:
                        added[uploaded.photo.id] = path
            if reason is not None:
                skipped += 1
                _say(f"skipped {_shown(path)}: {reason}")
            progress.advance(task)
    with _progress() as progress:
        # every job that is due, this import's and any left from before
        due = dr.queue.count_due(datetime.now(UTC))
        task = progress.add_task("processing", total=due)
        worker = dr.worker("import")
        while worker.run_once():
            progress.advance(task)
    failed = 0
    for photo_id, path in added.items():
        photo = dr.catalog.get(photo_id)
        if photo.status is PhotoStatus.FAILED:
            failed += 1
            _say(f"failed {_shown(path)}: {photo.reason}")
    _say(
        f"{len(added) - failed} imported, {failed} failed, {duplicates} already there,"
        f" {skipped} skipped"
    )
    if failed or (skipped and not added and not duplicates):
        raise typer.Exit(1)


@app.command()
def reprocess(
    wait: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for the next photo to be done by the queue's consumers (SQS:"
            " the processing function) or another worker (a server's) before giving up"
            " watching; the jobs stay queued."
        ),
    ] = 600.0,
    data: DataOption = None,
) -> None:
    """Render every photo's variants again where the variant settings have changed (and
    every failed photo). With an SQS queue the jobs are left to its consumers, and the
    photos followed in the catalog; with the local queue this process runs them, and
    follows those another worker (a server's) is on. A photo whose original is gone gets no
    job and is named. Exit status 1 if any photo failed, is not done or has lost its
    original."""
    if math.isnan(wait) or wait < 0:
        # Negative, the watch of an SQS queue's photos could end in a traceback (a sleep of
        # less than nothing); NaN, it never gave up.
        _say("darkroom: --wait is a number of seconds, 0 or more", "red")
        raise typer.Exit(2)
    dr = _build(_settings(data))
    reprocessing = Reprocessing(dr.catalog, dr.gallery, dr.originals, dr.processor.recipe)
    try:
        if isinstance(dr.queue, DeliveredQueue):
            unfinished = _reprocess_delivered(reprocessing, wait)
        else:
            unfinished = _reprocess_here(dr, reprocessing, wait)
    except DarkroomError as exc:
        _say(f"darkroom: {exc}; queued jobs are run by the server's worker", "red")
        raise typer.Exit(1) from None
    if unfinished:
        raise typer.Exit(1)


def _reprocess_here(dr: Darkroom, reprocessing: Reprocessing, wait: float) -> int:
    """Runs the jobs in this process, then follows the photos queued that another worker (a
    server's, on the same data) took, running what falls due meanwhile: how many failed or
    are left to a retry."""
    # A job each, not a call: what this run does not finish (it is stopped, a store or
    # the catalog is away) is retried by the server's worker, never left `processing`.
    queued = reprocessing.queue()
    worker = dr.worker("reprocess")

    def run_due(seconds: float) -> None:
        started = time.monotonic()
        while worker.run_once():
            pass
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))

    def taken(photo_ids: list[str]) -> set[str]:
        return dr.queue.with_jobs(photo_ids, PROCESS, frozenset({JobState.RUNNING}))

    with _progress() as progress:
        task = progress.add_task("reprocessing", total=len(queued.versions))
        while worker.run_once():
            progress.advance(task)
        # The photos counted again, as done, from the first read on.
        progress.update(task, completed=0)
        watched = reprocessing.watch(
            queued.versions,
            wait,
            lambda done: progress.advance(task, done),
            between=run_due,
            working=taken,
        )
    return _report(queued, watched)


def _reprocess_delivered(reprocessing: Reprocessing, wait: float) -> int:
    """Queues the jobs and leaves them to the queue's consumers, watching the catalog for
    the photos queued alone: how many failed or were not done in time."""
    queued = reprocessing.queue()
    with _progress() as progress:
        task = progress.add_task("reprocessing", total=len(queued.versions))
        watched = reprocessing.watch(
            queued.versions, wait, lambda done: progress.advance(task, done)
        )
    return _report(queued, watched)


def _report(queued: Queued, watched: Watched) -> int:
    for photo in queued.without_original:
        _say(
            f"{photo.id} {photo.filename}: its original is gone from the store; not rendered"
            " again (darkroom doctor)"
        )
    for photo in watched.failed:
        _say(f"{photo.id} {photo.filename}: failed: {photo.reason}")
    for photo in watched.unfinished:
        _say(f"{photo.id} {photo.filename}: not done yet; its job is queued (jobs --all)")
    return len(queued.without_original) + len(watched.failed) + len(watched.unfinished)


@app.command()
def process(data: DataOption = None) -> None:
    """Run the processing worker alone, until interrupted (the server runs one itself)."""
    dr = _build(_settings(data))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _say("processing; Ctrl-C to stop")
    try:
        dr.worker("process").run(stop)
    except KeyboardInterrupt:
        stop.set()


_LISTED_JOBS = 10_000
_RETRIED_AT_ONCE = 1000
"""Dead jobs `jobs retry --all` reads at once."""


@jobs_app.callback(invoke_without_command=True)
def jobs(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Also queued and running jobs.")] = False,
    data: DataOption = None,
) -> None:
    """List failed (waiting to retry) and dead jobs, with their last error."""
    if ctx.invoked_subcommand is not None:
        return
    dr = _build(_settings(data))
    # The dead asked for on their own: among the oldest jobs of every state (a `reprocess`
    # of a large library queues one per photo), the newer dead ones went unlisted.
    dead = dr.queue.jobs(frozenset({JobState.DEAD}), _LISTED_JOBS)
    live = dr.queue.jobs(frozenset({JobState.QUEUED, JobState.RUNNING}), _LISTED_JOBS)
    shown = sorted(
        dead + [job for job in live if all_ or job.last_error],
        key=lambda job: (job.created_at, job.id),
    )
    table = Table(*_ids("job", "photo"), "kind", "state", "attempts", "next run", "last error")
    for job in shown[:_LISTED_JOBS]:
        state = "retrying" if job.state is JobState.QUEUED and job.last_error else job.state
        table.add_row(
            job.id,
            job.photo_id,
            job.kind,
            str(state),
            str(job.attempts),
            job.run_at.isoformat(timespec="seconds"),
            job.last_error[:120],
        )
    _stdout().print(table if table.row_count else "no failed or dead jobs")
    if isinstance(dr.queue, DeadLetters):
        _print_dead_letters(dr, dr.queue)


@jobs_app.command("retry")
def jobs_retry(
    job_ids: Annotated[list[str] | None, typer.Argument(help="Jobs to retry.")] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Retry every dead job.")] = False,
    data: DataOption = None,
) -> None:
    """Make dead jobs due again, one by one or all of them."""
    dr = _build(_settings(data))
    ids = list(job_ids or [])
    letters = dr.queue if isinstance(dr.queue, DeadLetters) else None
    if letters is not None and (all_dead or ids):
        # Dead letters first: a job's letter makes the job due again on its own.
        for letter in letters.redrive(None if all_dead else ids):
            _say(f"dead letter {letter.id} ({letter.subject}) sent back")
            if letter.id in ids:
                ids.remove(letter.id)
    if not all_dead and not ids and not job_ids:
        _say("name jobs to retry, or --all")
        raise typer.Exit(2)
    if not all_dead:
        for job_id in ids:
            if not _retryable(dr, job_id):
                _say(f"darkroom: no dead job, nor one waiting to retry, is {job_id!r}", "red")
                raise typer.Exit(1)
    now = datetime.now(UTC)
    try:
        for job_id in ids:
            dr.queue.retry(job_id, now)
            _say(f"job {job_id} queued again")
        if all_dead:
            _say(f"{_retry_every_dead(dr, now)} dead jobs queued again")
    except DarkroomError as exc:
        _say(str(exc), "red")
        raise typer.Exit(1) from None


def _retry_every_dead(dr: Darkroom, now: datetime) -> int:
    """Every dead job made due again, a page at a time, oldest first; how many. Each page
    starts after the last job of the one before: a job retried here that dies again before
    the end is not retried twice."""
    retried = 0
    last = None
    while page := dr.queue.jobs(frozenset({JobState.DEAD}), _RETRIED_AT_ONCE, after=last):
        for job in page:
            dr.queue.retry(job.id, now)
        retried += len(page)
        last = page[-1]
    return retried


def _retryable(dr: Darkroom, job_id: str) -> bool:
    """Dead, or waiting to retry: a done job would run again, a running one twice."""
    try:
        return dr.queue.get(job_id).state in (JobState.DEAD, JobState.QUEUED)
    except NotFound:
        return False


@app.command()
def render(
    files: Annotated[list[Path], typer.Argument(help="Image files and folders.")],
    out: Annotated[Path, typer.Option("--out", help="Where the variants go.")] = Path(),
) -> None:
    """Render the configured variants (DARKROOM_VARIANTS) of each image into OUT, as
    NAME.VARIANT.EXT; nothing is stored or catalogued. Exit status 1 if any image failed."""
    settings = _settings()
    specs, limits, watermark = settings.variant_specs(), settings.limits(), settings.watermark()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _say(f"darkroom: cannot write into {out}: {_why(exc)}", "red")
        raise typer.Exit(2) from None
    failed = 0
    names: set[str] = set()
    for path in sorted(_files(files)):
        try:
            if reason := _unfit(path, limits.max_bytes):
                raise Unsupported(reason)
            variants = develop(path.read_bytes(), specs, limits, watermark=watermark).variants
        except (DarkroomError, OSError) as exc:
            failed += 1
            _say(f"{_shown(path)}: {_why(exc)}")
            continue
        name = _unique(_fitting(path.stem, variants), names)
        try:
            for variant in variants:
                (out / f"{name}.{variant.name}.{variant.extension}").write_bytes(variant.data)
        except OSError as exc:
            _say(f"darkroom: cannot write into {out}: {_why(exc)}", "red")
            raise typer.Exit(2) from None
        sizes = ", ".join(f"{v.name} {v.width}×{v.height}" for v in variants)
        _say(f"{_shown(path)}: {sizes}" + ("" if name == path.stem else f" (as {_shown(name)})"))
    if failed:
        raise typer.Exit(1)


def _fitting(stem: str, variants: Sequence[Rendered]) -> str:
    """`stem`, cut short (between characters) where `STEM-NNNN.VARIANT.EXT` would not fit in
    a file name: a long one, that fitted as the image's own name, stopped the whole run."""
    longest = max(len(f"-9999.{v.name}.{v.extension}".encode()) for v in variants)
    # Measured as the file system holds it: a name that is not UTF-8 (a Latin-1 system's)
    # comes with its bytes escaped, which a plain encode refuses.
    while len(os.fsencode(stem)) > NAME_MAX - longest:
        stem = stem[:-1]
    return stem


def _unique(stem: str, taken: set[str]) -> str:
    """`stem`, or `stem-2`, `stem-3`…: the first this run has not written yet."""
    name, number = stem, 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}"
    taken.add(name)
    return name


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is found.")] = False,
    grace: Annotated[
        float, typer.Option(help="Seconds an upload or a job may still be on its way.")
    ] = 3600.0,
    data: DataOption = None,
) -> None:
    """Find orphans in either direction (objects without a record, records without their
    objects) and photos no job will finish; with --fix, repair them."""
    from darkroom.services.doctor import REPAIRS

    if not math.isfinite(grace) or grace < 0:
        _say("darkroom: --grace is a number of seconds, 0 or more", "red")
        raise typer.Exit(2)
    dr = _build(_settings(data))
    checkup = dr.doctor()
    findings = checkup.examine(grace)
    table = Table("problem", "key or photo", "repair" if fix else "--fix would")
    for finding in findings:
        if fix:
            checkup.repair(finding)
        table.add_row(str(finding.problem), finding.subject, REPAIRS[finding.problem])
    _stdout().print(table if findings else "nothing to repair")
    if findings and not fix:
        raise typer.Exit(1)


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
    data: DataOption = None,
) -> None:
    """The last 24 hours: processing runs, errors and error rate, average and p99
    durations, objects and bytes per store, catalog size."""
    from darkroom.services.gallery import utcnow
    from darkroom.services.stats import count, figures

    dr = _build(_settings(data))
    # Counted afresh (the server keeps its counts for a minute): every object listed.
    stores = {"originals": dr.originals, "variants": dr.variants}
    found = figures(dr.runs, count(dr.catalog, stores), utcnow())
    if as_json:
        body = dataclasses.asdict(found) | {"catalog_size": found.catalog_size}
        print(json.dumps(body, default=str, indent=2))
        return
    table = Table("last 24 hours", "")
    table.add_row("processing runs", str(found.runs))
    table.add_row("errors", f"{found.errors} ({found.error_rate:.1%})")
    table.add_row("average duration", f"{found.average_seconds:.3f} s")
    table.add_row("p99 duration", f"{found.p99_seconds:.3f} s")
    for store in found.stores:
        table.add_row(f"store {store.name}", f"{store.objects} objects, {store.bytes} bytes")
    by_status = ", ".join(f"{n} {s}" for s, n in sorted(found.photos.items()))
    table.add_row(
        "catalog", f"{found.catalog_size} photos" + (f" ({by_status})" if by_status else "")
    )
    if found.counting_seconds >= SLOW_COUNT:
        table.add_row("counting stores and catalog took", f"{found.counting_seconds:.1f} s")
    _stdout().print(table)


def _print_dead_letters(dr: Darkroom, letters: DeadLetters) -> None:
    table = Table(*_ids("dead letter"), "about", "receives", "reason")
    for letter in letters.dead_letters(10_000):
        table.add_row(letter.id, letter.subject, str(letter.receives), _reason(dr, letter)[:120])
    _stdout().print(table if table.row_count else "the dead-letter queue is empty")


def _reason(dr: Darkroom, letter: DeadLetter) -> str:
    """The last failure, as the photo's record keeps it."""
    try:
        if letter.photo_id:
            return dr.catalog.get(letter.photo_id).reason
        if letter.key:
            return dr.catalog.get_by_key(letter.key).reason
    except DarkroomError:
        pass
    return ""


def _files(paths: list[Path]) -> Iterator[Path]:
    """The files named, and those in the folders named, at any depth: not the hidden ones,
    nor any in a hidden folder. A link is followed to a file (a broken one is said so), not
    to a folder."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for found in path.rglob("*"):
            hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
            if not hidden and not found.is_dir():
                yield found


def _unfit(path: Path, max_bytes: int) -> str | None:
    """Why this file cannot be imported, in one line; None if it looks like an image.
    Read no further than its first bytes: a file over the limit is refused by its size."""
    try:
        found = path.stat()
        size = found.st_size
        if not stat.S_ISREG(found.st_mode):
            return "not a regular file"
        if size > max_bytes:
            return f"the file is over the limit of {max_bytes} bytes"
        if not size:
            return "the file is empty"
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        return _why(exc)
    try:
        detect(head)
    except DarkroomError as exc:
        return str(exc)
    return None


def _shown(name: Path | str) -> str:
    """A file's name as it may be printed: control characters (a terminal's commands, line
    breaks) written as escapes, since the names come from wherever the files came from."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(name))


def _why(exc: Exception) -> str:
    """An error in one line: an OSError's own words, without its number and file name."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _stdout() -> Console:
    """Tables on stdout: as wide as they need where it is not a terminal (a pipe, a file),
    so that nothing is cut."""
    return Console(width=None if sys.stdout.isatty() else 10_000)


def _ids(*names: str) -> list[Column]:
    """Columns of ids, never cut or wrapped: they are to be copied."""
    return [Column(name, no_wrap=True, min_width=26) for name in names]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<40}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def main() -> None:
    app()
