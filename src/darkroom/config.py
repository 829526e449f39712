"""Settings, read from the environment (and `.env`) once, at the edge.

Every backend is a URL-like string; `bootstrap` turns them into adapters. The seeds'
own names (`DESTINATION_BUCKET`, `SNS_TOPIC_ARN`, `RESIZE_WIDTH`, `RESIZE_HEIGHT`) are
accepted as aliases.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from darkroom.domain import DEFAULT_VARIANTS, VariantSpec
from darkroom.imaging import Limits, Watermark
from darkroom.imaging.watermark import Position

_SPEC = re.compile(
    r"(?P<name>[a-z][a-z0-9_-]{0,31}):(?P<w>\d+)?(?:x(?P<h>\d+))?(?::(?P<fmt>auto|jpeg|png|webp|avif))?"
)


def parse_variants(text: str) -> tuple[VariantSpec, ...]:
    """`thumb:100x100,w320:320,tall:x600,hero:1600:webp` → specs (width x height : format)."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _SPEC.fullmatch(item)
        if not match or not (match["w"] or match["h"]):
            raise ValueError(
                f"DARKROOM_VARIANTS: {item!r} is not NAME:WIDTH[xHEIGHT][:FORMAT], "
                "e.g. thumb:100x100 or w640:640:webp"
            )
        specs.append(
            VariantSpec(
                match["name"],
                int(match["w"]) if match["w"] else None,
                int(match["h"]) if match["h"] else None,
                match["fmt"] or "auto",  # type: ignore[arg-type]
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("DARKROOM_VARIANTS: variant names must be unique")
    if not specs:
        raise ValueError("DARKROOM_VARIANTS: at least one variant is needed")
    return tuple(specs)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def format_variants(specs: tuple[VariantSpec, ...]) -> str:
    parts = []
    for spec in specs:
        box = f"{spec.width or ''}" + (f"x{spec.height}" if spec.height else "")
        parts.append(f"{spec.name}:{box}" + (f":{spec.format}" if spec.format != "auto" else ""))
    return ",".join(parts)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DARKROOM_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("data"), description="Where the embedded backends keep files.")
    originals: str = Field(
        "",
        description="Store of originals: file:///dir, memory:// or "
        "s3://bucket[/prefix/][?endpoint_url=…&region=…&upload=post|put]. "
        "Default: file://DATA_DIR/originals.",
    )
    variants_store: str = Field(
        "",
        validation_alias=AliasChoices("DARKROOM_VARIANTS_STORE", "DESTINATION_BUCKET"),
        description="Store of variants, never the same as originals. "
        "Default: file://DATA_DIR/variants. Seed alias DESTINATION_BUCKET=name means s3://name.",
    )
    catalog: str = Field(
        "",
        description="sqlite:///file, postgresql://…, mysql+pymysql://…, memory://, "
        "dynamodb://table[?endpoint_url=…&region=…]. "
        "Default: sqlite:///DATA_DIR/darkroom.db.",
    )
    queue: str = Field(
        "local",
        description="local (jobs table in the catalog's database), memory:// or "
        "sqs+https://sqs.REGION.amazonaws.com/ACCOUNT/NAME[?table=JOB_LEDGER_TABLE].",
    )
    notify: str = Field(
        "log",
        validation_alias=AliasChoices("DARKROOM_NOTIFY", "SNS_TOPIC_ARN"),
        description="Where processing results go, comma-separated: log, none, memory, "
        "sns://arn:aws:sns:REGION:ACCOUNT:TOPIC (seed alias SNS_TOPIC_ARN=arn), "
        "webhook+https://host/path (signed with DARKROOM_WEBHOOK_SECRET), "
        "mailto:ADDRESS (through DARKROOM_MAIL) or "
        "smtp://[user:password@]host[:port]?to=ADDRESS[&tls=starttls|ssl].",
    )
    webhook_secret: str = Field(
        "",
        description="Shared secret that signs webhook notifications (HMAC-SHA256); "
        "at least 16 characters; needed when DARKROOM_NOTIFY names a webhook.",
    )
    mail: str = Field(
        "log",
        description="Where mail goes: log (the log shows it), memory, or "
        "smtp://[user:password@]host[:port][?tls=starttls|ssl].",
    )
    mail_from: str = Field("darkroom <darkroom@localhost>", description="Sender of mail.")
    auth: str = Field(
        "none",
        description="none: one user, no sign-in; local: darkroom's own accounts in the "
        "catalog's SQL database; cognito://POOL_ID?client_id=…[&region=…&endpoint_url=…"
        "&jwks_url=…&issuer=…]: a Cognito user pool.",
    )
    dropped_owner: str = Field(
        "",
        description="Email of the account that photos put straight into the originals bucket "
        "belong to (S3 notifications), where sign-in is on; looked up at the first such photo. "
        "Empty: they belong to the gallery's one user, whom only DARKROOM_AUTH=none shows.",
    )
    ops_token: str = Field(
        "",
        description="With sign-in on (DARKROOM_AUTH not none), /metrics and /admin answer only "
        "requests with Authorization: Bearer OPS_TOKEN (at least 16 characters); empty: they "
        "answer 404. With DARKROOM_AUTH=none they are open, like everything else.",
    )
    public_url: str = Field(
        "",
        description="Where people reach the page; the links in mails point here. "
        "Default: http://HOST:PORT.",
    )
    access_token_ttl: int = Field(
        900, ge=60, le=86400, description="Seconds an access token of local accounts lives."
    )
    refresh_token_ttl: int = Field(
        30 * 86400, ge=300, description="Seconds a refresh token of local accounts lives."
    )
    share_ttl: int = Field(
        7 * 86400, ge=60, le=365 * 86400, description="Longest a share link lives, in seconds."
    )
    cors_origins: str = Field(
        "", description="Other origins the API answers, comma-separated; none by default."
    )
    rate_sign_in: int = Field(
        20, ge=0, description="Sign-in attempts (and sign-ups, resets) per minute per client."
    )
    rate_upload: int = Field(120, ge=0, description="Uploads started per minute per client.")
    rate_listing: int = Field(600, ge=0, description="Listings per minute per client.")
    secret: str = Field(
        "",
        description="Key for signed URLs; at least 16 characters. "
        "Default: generated once into DATA_DIR/.secret.",
    )
    variants: str = Field(
        format_variants(DEFAULT_VARIANTS),
        description="NAME:WIDTH[xHEIGHT][:FORMAT],… (FORMAT auto|jpeg|png|webp|avif).",
    )
    resize_width: int | None = Field(
        None,
        validation_alias=AliasChoices("DARKROOM_RESIZE_WIDTH", "RESIZE_WIDTH"),
        description="Seed 004's box for the `display` variant (default 800).",
    )
    resize_height: int | None = Field(
        None,
        validation_alias=AliasChoices("DARKROOM_RESIZE_HEIGHT", "RESIZE_HEIGHT"),
        description="Seed 004's box for the `display` variant (default 600).",
    )
    jpeg_quality: int = Field(85, ge=1, le=100, description="Quality of `auto` variants.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest original.")
    max_pixels: int = Field(100_000_000, ge=1, description="Largest image, in pixels.")
    max_frames: int = Field(1000, ge=1, description="Most frames in an animation.")
    watermark_text: str = Field("", description="Text of the watermark; empty: none.")
    watermark_variants: str = Field(
        "w640,w1024,display", description="Variants that carry the watermark, comma-separated."
    )
    watermark_position: Position = Field("bottom-right", description="Where it sits.")
    watermark_opacity: float = Field(0.5, gt=0, le=1, description="0 (invisible) to 1.")
    watermark_size: float = Field(
        0.25, gt=0, le=1, description="Width of the text as a fraction of the variant's."
    )
    include_gps: bool = Field(False, description="Keep GPS position in the catalog summary.")
    upload_url_ttl: int = Field(
        300, ge=10, le=7 * 86400, description="Seconds an upload URL lives."
    )
    download_url_ttl: int = Field(
        3600, ge=10, le=7 * 86400, description="Seconds a download URL lives."
    )
    workers: int = Field(1, ge=0, le=32, description="In-process worker threads (0: none).")
    job_attempts: int = Field(5, ge=1, description="Attempts before a job is dead.")
    job_lease: float = Field(
        60.0, gt=0, description="Seconds a worker holds a job before another may take it over."
    )
    retry_base: float = Field(2.0, gt=0, description="First retry delay; doubles each time.")
    wait_timeout: float = Field(
        60.0, ge=0, description="Longest POST /upload waits for processing before answering 202."
    )
    host: str = Field("127.0.0.1", description="Address `darkroom serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `darkroom serve` listens on.")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="json, text, or auto: text on a terminal, JSON lines elsewhere."
    )
    metrics: Literal["prometheus", "emf", "none"] = Field(
        "prometheus",
        description="prometheus (GET /metrics), emf (CloudWatch embedded metric format on "
        "stdout, for Lambda) or none.",
    )

    @field_validator("variants")
    @classmethod
    def _check_variants(cls, value: str) -> str:
        parse_variants(value)
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("DARKROOM_SECRET must be at least 16 characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        level = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level)  # logging's aliases
        if level not in _LOG_LEVELS:
            raise ValueError(f"DARKROOM_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        if self.variants_store and "://" not in self.variants_store:
            self.variants_store = f"s3://{self.variants_store}"
        if self.notify.startswith("arn:"):
            self.notify = f"sns://{self.notify}"
        try:
            self.variant_specs()
        except ValueError as exc:
            raise ValueError(f"DARKROOM_RESIZE_WIDTH or DARKROOM_RESIZE_HEIGHT: {exc}") from None
        watermark = self.watermark()
        names = {spec.name for spec in parse_variants(self.variants)}
        if watermark is not None and not watermark.variants <= names:
            unknown = ", ".join(sorted(watermark.variants - names))
            raise ValueError(
                f"DARKROOM_WATERMARK_VARIANTS names {unknown}, which DARKROOM_VARIANTS does not"
                f" define (it has {', '.join(sorted(names))})"
            )
        return self

    def watermark(self) -> Watermark | None:
        if not self.watermark_text.strip():
            return None
        return Watermark(
            self.watermark_text,
            frozenset(filter(None, (n.strip() for n in self.watermark_variants.split(",")))),
            self.watermark_position,
            self.watermark_opacity,
            self.watermark_size,
        )

    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_upload_bytes,
            max_pixels=self.max_pixels,
            max_frames=self.max_frames,
        )

    def variant_specs(self) -> tuple[VariantSpec, ...]:
        specs = parse_variants(self.variants)
        if self.resize_width or self.resize_height:
            specs = tuple(
                VariantSpec(
                    s.name,
                    self.resize_width or s.width,
                    self.resize_height or s.height,
                    s.format,
                    s.quality,
                )
                if s.name == "display"
                else s
                for s in specs
            )
        if self.jpeg_quality != 85:
            specs = tuple(
                VariantSpec(s.name, s.width, s.height, s.format, self.jpeg_quality) for s in specs
            )
        return specs

    def originals_url(self) -> str:
        return self.originals or (self.data_dir / "originals").resolve().as_uri()

    def variants_url(self) -> str:
        return self.variants_store or (self.data_dir / "variants").resolve().as_uri()

    def catalog_url(self) -> str:
        return self.catalog or f"sqlite:///{(self.data_dir / 'darkroom.db').resolve()}"

    def page_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def auth_mode(self) -> str:
        """`none`, `local` or `cognito`."""
        return self.auth.split("://")[0].strip().lower() or "none"
