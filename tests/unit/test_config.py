"""Settings: defaults, the seeds' aliases, and errors that name the setting."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from darkroom.bootstrap import ConfigError, build
from darkroom.config import Settings, format_variants, parse_variants
from darkroom.domain import DEFAULT_VARIANTS, VariantSpec
from darkroom.services.gallery import LOCAL_OWNER


def test_defaults_are_the_embedded_local_setup(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.originals_url() == (tmp_path / "originals").resolve().as_uri()
    assert settings.variants_url() == (tmp_path / "variants").resolve().as_uri()
    assert settings.catalog_url() == f"sqlite:///{(tmp_path / 'darkroom.db').resolve()}"
    assert settings.variant_specs() == DEFAULT_VARIANTS
    assert parse_variants(format_variants(DEFAULT_VARIANTS)) == DEFAULT_VARIANTS


def test_seed_names_are_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESIZE_WIDTH", "1200")
    monkeypatch.setenv("RESIZE_HEIGHT", "900")
    monkeypatch.setenv("DESTINATION_BUCKET", "my-resized-bucket")
    settings = Settings()
    display = next(s for s in settings.variant_specs() if s.name == "display")
    assert (display.width, display.height) == (1200, 900)
    assert settings.variants_url() == "s3://my-resized-bucket"


def test_variant_syntax() -> None:
    assert parse_variants("tall:x600,hero:1600:webp") == (
        VariantSpec("tall", None, 600),
        VariantSpec("hero", 1600, None, "webp"),
    )
    for bad in ("thumb", "thumb:", "a:10,a:20", "Big:10", "x:10:gif", ""):
        with pytest.raises(ValueError, match="DARKROOM_VARIANTS"):
            parse_variants(bad)


def test_bad_values_name_their_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DARKROOM_VARIANTS", "thumb:abc")
    with pytest.raises(ValidationError, match="DARKROOM_VARIANTS"):
        Settings()
    monkeypatch.delenv("DARKROOM_VARIANTS")
    monkeypatch.setenv("DARKROOM_SECRET", "short")
    with pytest.raises(ValidationError, match="DARKROOM_SECRET"):
        Settings()


def test_watermark_variants_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DARKROOM_WATERMARK_VARIANTS", "w1024,w2048")
    assert Settings().watermark() is None  # no watermark text: nothing to check
    monkeypatch.setenv("DARKROOM_WATERMARK_TEXT", "© me")
    with pytest.raises(ValidationError, match="DARKROOM_WATERMARK_VARIANTS names w2048"):
        Settings()
    monkeypatch.setenv("DARKROOM_WATERMARK_VARIANTS", "w1024, display")
    watermark = Settings().watermark()
    assert watermark is not None and watermark.variants == {"w1024", "display"}


@pytest.mark.parametrize(
    ("field", "value", "setting"),
    [
        ("catalog", "dynamo://table", "DARKROOM_CATALOG"),
        ("originals", "ftp://host/dir", "DARKROOM_ORIGINALS"),
        ("queue", "rabbit://x", "DARKROOM_QUEUE"),
        ("notify", "pigeon", "DARKROOM_NOTIFY"),
    ],
)
def test_unknown_backends_are_refused_by_name(
    tmp_path: Path, field: str, value: str, setting: str
) -> None:
    settings = Settings(data_dir=tmp_path, catalog="memory://", queue="memory")
    setattr(settings, field, value)
    with pytest.raises(ConfigError, match=setting):
        build(settings)


def test_variants_may_not_share_the_originals_store(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        originals="memory://",
        variants_store="memory://",
        catalog="memory://",
        queue="memory",
    )
    with pytest.raises(ConfigError, match="DARKROOM_VARIANTS_STORE"):
        build(settings)


def test_an_owner_for_dropped_photos_needs_sign_in(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, catalog="memory://", queue="memory", dropped_owner="ann@example.org"
    )
    with pytest.raises(ConfigError, match="DARKROOM_DROPPED_OWNER needs sign-in"):
        build(settings)
    settings.dropped_owner = ""
    assert build(settings).dropped_owner() == LOCAL_OWNER
    settings.auth, settings.dropped_owner = "local", "not-an-address"
    with pytest.raises(ConfigError, match="DARKROOM_DROPPED_OWNER: that is not an email"):
        build(settings)


def test_the_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, catalog="memory://", queue="memory")
    first = build(settings).signer
    second = build(settings).signer
    assert (tmp_path / ".secret").stat().st_mode & 0o777 == 0o600
    from darkroom.signing import Grant

    grant = Grant("GET", "variants", "a.jpg", 2_000_000_000)
    assert first.sign(grant) == second.sign(grant)


def test_processes_starting_together_share_one_whole_secret(tmp_path: Path) -> None:
    """Each makes the secret file if it finds none: none may fail, or read half of one."""
    from darkroom.bootstrap import _secret

    for attempt in range(20):
        settings = Settings(data_dir=tmp_path / str(attempt))
        start = threading.Barrier(4)

        def made(settings: Settings = settings, start: threading.Barrier = start) -> bytes:
            start.wait()
            return _secret(settings)

        with ThreadPoolExecutor(4) as pool:
            secrets = {f.result() for f in [pool.submit(made) for _ in range(4)]}
        assert len(secrets) == 1 and len(secrets.pop()) >= 16
        assert [p.name for p in settings.data_dir.iterdir()] == [".secret"]


def test_an_empty_secret_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".secret").write_text("\n")
    with pytest.raises(ConfigError, match=r"\.secret holds no usable signing secret"):
        build(Settings(data_dir=tmp_path, catalog="memory://", queue="memory"))


def test_the_log_level_is_one_logging_knows() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
    assert Settings(log_level="warn").log_level == "WARNING"
    with pytest.raises(ValidationError, match="must be one of DEBUG, INFO"):
        Settings(log_level="LOUD")


def test_the_secret_is_made_where_the_file_system_has_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    from darkroom.bootstrap import _secret

    secret = _secret(Settings(data_dir=tmp_path))
    assert len(secret) >= 16 and (tmp_path / ".secret").read_bytes() == secret
    assert [p.name for p in tmp_path.iterdir()] == [".secret"]
