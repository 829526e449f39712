"""The command line, run as a user runs it: `python -m darkroom …` on a data directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from darkroom.bootstrap import build
from darkroom.cli import app
from darkroom.config import Settings
from darkroom.domain import Job, JobState
from tests.corpus import CORPUS

pytestmark = pytest.mark.e2e


def darkroom(
    data: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darkroom", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=os.environ
        | {"DARKROOM_SECRET": "cli-secret-0123456789", "COLUMNS": "200"}
        | (env or {}),
    )


def _old_jobs(data: Path, state: str, count: int, due_in: timedelta = timedelta()) -> None:
    """`count` jobs in `state` made a day ago (`d0`, `d1`… or `q0`…), written straight into
    the database, due `due_in` after (as many through the queue would take minutes)."""
    older = datetime.now(UTC) - timedelta(days=1)
    made, due = (f"{t:%Y-%m-%d %H:%M:%S.%f}" for t in (older, older + due_in))
    with sqlite3.connect(data / "darkroom.db") as db:
        db.executemany(
            "insert into jobs (id, photo_id, state, attempts, last_error, created_at, run_at)"
            " values (?, ?, ?, 5, 'boom', ?, ?)",
            ((f"{state[0]}{n}", f"p{n}", state, made, due) for n in range(count)),
        )


def test_import_skips_what_is_not_an_image_then_reprocess(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", folder / "a.jpg")
    shutil.copy(CORPUS / "W02_webp_tree_1024.webp", folder / "nested" / "tree.webp")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "fake.jpg").write_bytes(b"<html>nope</html>")
    data = tmp_path / "data"

    result = darkroom(data, "import", str(folder))
    assert result.returncode == 0, result.stderr
    assert "2 imported, 0 failed, 0 already there, 2 skipped" in result.stderr
    stats = json.loads(darkroom(data, "stats", "--json").stdout)
    assert (stats["runs"], stats["errors"], stats["catalog_size"]) == (2, 0, 2)
    assert [(s["name"], s["objects"]) for s in stats["stores"]] == [
        ("originals", 2),
        ("variants", 12),
    ]
    assert "processing runs" in darkroom(data, "stats").stdout
    assert "notes.txt: not an image" in result.stderr and "fake.jpg: not an image" in result.stderr
    with sqlite3.connect(data / "darkroom.db") as db:
        assert db.execute("select status from photos").fetchall() == [("ready",), ("ready",)]

    again = darkroom(data, "import", str(folder / "a.jpg"))
    assert "0 imported, 0 failed, 1 already there" in again.stderr

    variants = data / "variants"
    before = {p.name for p in variants.rglob("*") if p.is_file()}
    assert len(before) == 12
    reprocess = darkroom(data, "reprocess", env={"DARKROOM_VARIANTS": "thumb:100x100,big:2000"})
    assert reprocess.returncode == 0, reprocess.stderr
    after = {p.name for p in variants.rglob("*") if p.is_file()}
    assert len(after) == 4 and all(n.startswith(("thumb-", "big-")) for n in after)


def test_reprocess_cut_short_leaves_each_photo_to_a_job(tmp_path: Path) -> None:
    data = tmp_path / "data"
    photo = tmp_path / "a.jpg"
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", photo)
    assert darkroom(data, "import", str(photo)).returncode == 0
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    # Variants cannot be written: a store that is away, as a full disk is.
    away = {"DARKROOM_VARIANTS": "big:2000", "DARKROOM_VARIANTS_STORE": f"{blocked.as_uri()}/v"}
    cut_short = darkroom(data, "reprocess", env=away)
    assert cut_short.returncode == 1
    assert "Traceback" not in cut_short.stderr
    assert "not done yet; its job is queued" in cut_short.stderr
    assert darkroom(data, "doctor", "--grace", "0").returncode == 0  # no photo without a job

    again = darkroom(data, "reprocess", env={"DARKROOM_VARIANTS": "big:2000"})
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(data / "darkroom.db") as db:
        assert db.execute("select status from photos").fetchall() == [("ready",)]
    assert [p.name[:4] for p in (data / "variants").rglob("*") if p.is_file()] == ["big-"]


@pytest.mark.parametrize("wait", ["-1", "nan"])
def test_reprocess_refuses_a_wait_that_is_no_number_of_seconds(tmp_path: Path, wait: str) -> None:
    """With an SQS queue a negative wait could end the watch of its photos in a traceback
    ("sleep length must be non-negative"), and NaN never ended it."""
    result = darkroom(tmp_path / "data", "reprocess", "--wait", wait)
    assert result.returncode == 2
    assert "--wait is a number of seconds, 0 or more" in result.stderr


def test_import_counts_its_jobs_behind_many_queued_for_later(tmp_path: Path) -> None:
    """The due jobs are counted by the queue: read from the 100 000 oldest queued jobs, the
    import's own, newer, went uncounted ("1/0")."""
    data = tmp_path / "data"
    build(Settings(data_dir=data, secret="cli-secret-0123456789"))
    _old_jobs(data, "queued", 100_000, due_in=timedelta(days=2))  # due tomorrow
    photo = tmp_path / "a.jpg"
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", photo)
    result = darkroom(data, "import", str(photo))
    assert result.returncode == 0, result.stderr
    processing = [line for line in result.stderr.splitlines() if line.startswith("processing")]
    assert processing and " 1/1 " in processing[-1], result.stderr[-300:]


def test_jobs_lists_and_retries_dead_jobs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert "no failed or dead jobs" in darkroom(data, "jobs").stdout
    queue = build(Settings(data_dir=data, secret="cli-secret-0123456789")).queue
    now = datetime.now(UTC)
    queue.enqueue(Job("j1", "p1", now, now))
    assert queue.claim("test", 60) is not None
    queue.fail("j1", "Unavailable: store down", None)
    listed = darkroom(data, "jobs")
    assert "j1" in listed.stdout and "store down" in listed.stdout
    retried = darkroom(data, "jobs", "retry", "j1")
    assert retried.returncode == 0 and "queued again" in retried.stderr
    assert darkroom(data, "jobs", "retry", "nope").returncode == 1
    claimed = queue.claim("test", 60)
    assert claimed is not None and claimed.id == "j1"
    queue.complete("j1")
    done = darkroom(data, "jobs", "retry", "j1")
    assert done.returncode == 1 and "no dead job, nor one waiting to retry" in done.stderr
    assert queue.claim("test", 60) is None  # a done job is not run again


def test_a_dead_job_is_listed_behind_many_older_queued_ones(tmp_path: Path) -> None:
    """A `reprocess` of a large library queues a job per photo: a job that died since is
    listed all the same, where the listing looked at the 10 000 oldest jobs only."""
    data = tmp_path / "data"
    queue = build(Settings(data_dir=data, secret="cli-secret-0123456789")).queue
    now = datetime.now(UTC)
    for n in range(10_001):
        queue.enqueue(Job(f"q{n}", f"p{n}", now - timedelta(days=1), now + timedelta(days=1)))
    queue.enqueue(Job("dead1", "p-dead", now, now))
    assert queue.claim("test", 60) is not None
    queue.fail("dead1", "Unavailable: store down", None)
    listed = darkroom(data, "jobs")
    assert "dead1" in listed.stdout and "store down" in listed.stdout, listed.stdout


def test_a_dead_job_behind_many_older_dead_ones_is_retried(tmp_path: Path) -> None:
    """The job named is read by its id: looked for among the 100 000 oldest dead jobs (and
    as many queued ones), a newer one was refused as none."""
    data = tmp_path / "data"
    queue = build(Settings(data_dir=data, secret="cli-secret-0123456789")).queue
    now = datetime.now(UTC)
    queue.enqueue(Job("newest", "p-newest", now, now))
    assert queue.claim("test", 60) is not None
    queue.fail("newest", "Unavailable: store down", None)
    _old_jobs(data, "dead", 100_000)
    retried = darkroom(data, "jobs", "retry", "newest")
    assert retried.returncode == 0 and "job newest queued again" in retried.stderr, retried.stderr
    job = queue.get("newest")
    assert (job.state, job.attempts) == (JobState.QUEUED, 0)


def test_every_dead_job_is_retried_and_counted(tmp_path: Path) -> None:
    """`retry --all` read the 10 000 oldest dead jobs and left the others dead, unsaid."""
    data = tmp_path / "data"
    queue = build(Settings(data_dir=data, secret="cli-secret-0123456789")).queue
    _old_jobs(data, "dead", 12_345)
    retried = darkroom(data, "jobs", "retry", "--all")
    assert retried.returncode == 0, retried.stderr
    assert "12345 dead jobs queued again" in retried.stderr, retried.stderr[-300:]
    assert queue.count(frozenset({JobState.DEAD, JobState.QUEUED})) == {
        JobState.DEAD: 0,
        JobState.QUEUED: 12_345,
    }
    assert queue.get("d0").attempts == 0


def test_a_job_listing_piped_keeps_whole_ids(tmp_path: Path) -> None:
    data = tmp_path / "data"
    queue = build(Settings(data_dir=data, secret="cli-secret-0123456789")).queue
    now = datetime.now(UTC)
    job_id, photo_id = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
    queue.enqueue(Job(job_id, photo_id, now, now))
    assert queue.claim("test", 60) is not None
    queue.fail(job_id, "Unavailable: the store is down " * 5, None)
    listed = darkroom(data, "jobs", env={"COLUMNS": "80"})
    assert job_id in listed.stdout and photo_id in listed.stdout


def test_every_command_has_help() -> None:
    commands = (["serve"], ["import"], ["reprocess"], ["jobs"], ["jobs", "retry"], ["process"])
    for command in (*commands, ["doctor"], ["stats"]):
        result = subprocess.run(
            [sys.executable, "-m", "darkroom", *command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_help_flows_each_command_s_text_to_the_width() -> None:
    """Wide enough for every command's text on one line, the list shows one line each: the
    line breaks of the docstrings they come from are not kept."""
    result = subprocess.run(
        [sys.executable, "-m", "darkroom", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"COLUMNS": "1000"},
    )
    panel = result.stdout.split("Commands")[1]
    entries = [line for line in panel.splitlines()[1:] if line.strip("│╰─╯ ")]
    assert len(entries) == len(app.registered_commands) + len(app.registered_groups), entries


def test_render_writes_the_variants_and_reports_what_failed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "broken.jpg").write_bytes((CORPUS / "S01_canon_sd300_2mp.jpg").read_bytes()[:900])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "darkroom",
            "render",
            str(CORPUS / "O02_canon_1000d_10mp_o6.jpg"),
            str(tmp_path / "broken.jpg"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=os.environ | {"DARKROOM_VARIANTS": "small:200,big:640x640:webp", "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert "O02_canon_1000d_10mp_o6.jpg: small 200×300, big 427×640" in result.stderr
    assert "broken.jpg:" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "O02_canon_1000d_10mp_o6.big.webp",
        "O02_canon_1000d_10mp_o6.small.jpg",
    ]
    with Image.open(out / "O02_canon_1000d_10mp_o6.big.webp") as big:
        assert big.size == (427, 640) and big.format == "WEBP"


def test_doctor_finds_and_fixes_orphans_both_ways(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", folder / "a.jpg")
    shutil.copy(CORPUS / "W02_webp_tree_1024.webp", folder / "b.webp")
    assert darkroom(data, "import", str(folder)).returncode == 0
    assert darkroom(data, "doctor", "--grace", "0").stdout.strip() == "nothing to repair"
    originals = sorted((data / "originals").iterdir())
    originals[0].unlink()
    stray = data / "variants" / "0123456789abcdef0123456789abcdef" / "w320-00.jpg"
    stray.parent.mkdir()
    stray.write_bytes(b"left behind")

    found = darkroom(data, "doctor", "--grace", "0")
    assert found.returncode == 1, found.stderr
    assert "record without original" in found.stdout and "variant without record" in found.stdout
    fixed = darkroom(data, "doctor", "--grace", "0", "--fix")
    assert fixed.returncode == 0 and "record and variants removed" in fixed.stdout
    assert darkroom(data, "doctor", "--grace", "0").stdout.strip() == "nothing to repair"
    assert not stray.exists()
    with sqlite3.connect(data / "darkroom.db") as db:
        assert db.execute("select count(*) from photos").fetchone() == (1,)
    assert len([p for p in (data / "variants").rglob("*") if p.is_file()]) == 6


def test_import_for_an_account(tmp_path: Path) -> None:
    data = tmp_path / "data"
    local = {"DARKROOM_AUTH": "local", "DARKROOM_MAIL": "log"}
    dr = build(Settings(data_dir=data, auth="local", mail="log", secret="cli-secret-0123456789"))
    assert dr.identity is not None
    dr.identity.sign_up("ann@example.org", "a long enough password 1")
    owner = dr.identity.owner_of("ann@example.org")
    photo = str(CORPUS / "S01_canon_sd300_2mp.jpg")

    result = darkroom(data, "import", "--owner", "Ann@Example.org", photo, env=local)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(data / "darkroom.db") as db:
        assert db.execute("select owner, status from photos").fetchall() == [(owner, "ready")]
    nobody = darkroom(data, "import", "--owner", "bob@example.org", photo, env=local)
    assert nobody.returncode == 2 and "no account has the address" in nobody.stderr
    no_sign_in = darkroom(data, "import", "--owner", "ann@example.org", photo)
    assert no_sign_in.returncode == 2 and "--owner needs sign-in" in no_sign_in.stderr


@pytest.mark.parametrize(
    ("env", "args", "said"),
    [
        ({"DARKROOM_PORT": "abc"}, ["stats"], "DARKROOM_PORT: Input should be a valid integer"),
        ({}, ["serve", "--port", "99999"], "DARKROOM_PORT: Input should be less than"),
        ({"DARKROOM_LOG_LEVEL": "LOUD"}, ["stats"], "DARKROOM_LOG_LEVEL must be one of"),
        ({"DARKROOM_RESIZE_WIDTH": "-5"}, ["stats"], "DARKROOM_RESIZE_WIDTH or"),
        ({"RESIZE_WIDTH": "abc"}, ["stats"], "darkroom: DARKROOM_RESIZE_WIDTH: Input should"),
        ({"RESIZE_HEIGHT": "20000"}, ["stats"], "sides must be within 1..16384"),
        (
            {"DARKROOM_WATERMARK_TEXT": "hi", "DARKROOM_WATERMARK_VARIANTS": "nope"},
            ["stats"],
            "DARKROOM_WATERMARK_VARIANTS names nope",
        ),
        ({"DARKROOM_SECRET": "short-secret"}, ["stats"], "DARKROOM_SECRET must be at least"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_status_2(
    tmp_path: Path, env: dict[str, str], args: list[str], said: str
) -> None:
    result = darkroom(tmp_path / "data", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    assert "short-secret" not in result.stderr  # a secret is not repeated


def test_a_data_directory_that_is_a_file_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    result = darkroom(tmp_path / "data", "stats")
    assert result.returncode == 2
    assert result.stderr.strip() == f"darkroom: cannot use {tmp_path / 'data'}: it is a file"


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = darkroom(tmp_path / "data", "serve", "--port", str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"darkroom: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert result.stdout == ""  # nothing started: no server, no worker, no log line


def _render(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darkroom", "render", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=os.environ | {"DARKROOM_VARIANTS": "small:100", "COLUMNS": "80"},
    )


def test_render_keeps_apart_photos_of_the_same_name_and_names_as_they_are(
    tmp_path: Path,
) -> None:
    for folder in ("a", "b [edited]"):
        (tmp_path / folder).mkdir()
        shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", tmp_path / folder / "IMG [1].jpg")
    shutil.copy(CORPUS / "W02_webp_tree_1024.webp", tmp_path / "a" / "IMG [1].webp")
    result = _render("a", "b [edited]", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "IMG [1]-2.small.jpg",
        "IMG [1]-3.small.jpg",
        "IMG [1].small.jpg",
    ]
    assert "b [edited]/IMG [1].jpg: small 100×75 (as IMG [1]-3)" in result.stderr


def test_render_cuts_a_name_too_long_for_its_variants_short(tmp_path: Path) -> None:
    """A 250-byte name fits the file system; with ".display.jpg" after it, it did not, and
    the run stopped with "cannot write into out: File name too long"."""
    long = "é" * 125
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", tmp_path / f"{long}.jpg")
    shutil.copy(CORPUS / "W02_webp_tree_1024.webp", tmp_path / f"{long}.webp")
    result = _render(f"{long}.jpg", f"{long}.webp", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(written) == 2
    assert all(len(name.encode()) <= 255 and name.startswith("é" * 100) for name in written)
    first, second = sorted(written, key=len)
    assert second == first.removesuffix(".small.jpg") + "-2.small.jpg"


def test_render_into_a_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    photo = str(CORPUS / "S01_canon_sd300_2mp.jpg")
    result = _render(photo, "--out", "out", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "darkroom: cannot write into out:" in result.stderr


def test_import_says_which_photos_failed_and_why(tmp_path: Path) -> None:
    """A file cut short is an image by its first bytes, and fails only when processed; a
    file over the size limit is refused without being read; a file in a hidden folder and a
    broken link are not photos of the folder."""
    folder = tmp_path / "photos [2024]"
    (folder / ".thumbnails").mkdir(parents=True)
    whole = (CORPUS / "S01_canon_sd300_2mp.jpg").read_bytes()
    (folder / "[red]cut.jpg").write_bytes(whole[: len(whole) // 2])
    shutil.copy(CORPUS / "W02_webp_tree_1024.webp", folder / "tree.webp")
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", folder / ".thumbnails" / "t.jpg")
    with (folder / "huge.jpg").open("wb") as huge:
        huge.write(whole[:2000])
        huge.truncate(3 << 20)
    (folder / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    data = tmp_path / "data"

    result = darkroom(data, "import", str(folder), env={"DARKROOM_MAX_UPLOAD_BYTES": "2000000"})
    assert result.returncode == 1, result.stderr
    assert f"failed {folder / '[red]cut.jpg'}: " in result.stderr
    assert "truncated" in result.stderr
    assert f"skipped {folder / 'huge.jpg'}: the file is over the limit of 2000000" in result.stderr
    assert f"skipped {folder / 'gone.jpg'}: No such file or directory" in result.stderr
    assert "1 imported, 1 failed, 0 already there, 2 skipped" in result.stderr
    assert ".thumbnails" not in result.stderr and "VIPS" not in result.stderr
    with sqlite3.connect(data / "darkroom.db") as db:
        assert sorted(db.execute("select filename, status from photos").fetchall()) == [
            ("[red]cut.jpg", "failed"),
            ("tree.webp", "ready"),
        ]


def test_file_names_are_printed_without_their_control_characters(tmp_path: Path) -> None:
    """Names come from wherever the files came from: one holding a terminal's commands (here
    a colour and a window title) or a line break is printed with them as escapes."""
    folder = tmp_path / "photos"
    folder.mkdir()
    name = "a\x1b[31mred\x1b]0;title\x07\nb.jpg"
    (folder / name).write_bytes(b"not a photo")
    shutil.copy(CORPUS / "S01_canon_sd300_2mp.jpg", folder / f"ok{name}")

    imported = darkroom(tmp_path / "data", "import", str(folder))
    rendered = _render(str(folder), "--out", "out", cwd=tmp_path)
    shown = "a\\x1b[31mred\\x1b]0;title\\x07\\nb.jpg"
    for result in (imported, rendered):
        assert not any(c in result.stderr for c in "\x1b\x07"), result.stderr
    assert f"skipped {folder}/{shown}: not an image" in imported.stderr
    assert f"{folder}/{shown}: not an image" in rendered.stderr
    assert f"{folder}/ok{shown}: small 100×75" in rendered.stderr


def test_render_writes_an_image_whose_name_is_not_utf8_under_that_name(tmp_path: Path) -> None:
    """A name from a Latin-1 system ("caf\\xe9.jpg") is valid on Linux; cutting names to
    length encoded it as UTF-8 and the run stopped with a traceback."""
    (tmp_path / "in").mkdir()
    shutil.copy(
        CORPUS / "S01_canon_sd300_2mp.jpg", os.fsdecode(bytes(tmp_path / "in") + b"/caf\xe9.jpg")
    )
    result = _render("in", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [os.fsencode(p.name) for p in (tmp_path / "out").iterdir()] == [b"caf\xe9.small.jpg"]
