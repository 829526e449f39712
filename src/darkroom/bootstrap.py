"""The one place where settings become adapters and adapters become services.

Production, the CLI and the tests all build darkroom here. Each backend factory imports
its adapter inside the function, so importing this module pulls in no driver.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from darkroom.config import Settings
from darkroom.errors import BadRequest
from darkroom.ports import (
    BlobStore,
    Catalog,
    JobQueue,
    Mailer,
    Meter,
    RunLog,
    Shares,
    Transactions,
)
from darkroom.services.cleanup import Cleanup
from darkroom.services.doctor import Doctor
from darkroom.services.gallery import LOCAL_OWNER, Gallery
from darkroom.services.notifications import Notifications, Target
from darkroom.services.processor import Processor
from darkroom.services.stats import KeptCounts
from darkroom.services.telemetry import Meters
from darkroom.services.worker import RetryPolicy, Worker
from darkroom.signing import UrlSigner

if TYPE_CHECKING:
    from darkroom.adapters.child_process import ChildProcesses
    from darkroom.adapters.prometheus import PrometheusMetrics
    from darkroom.adapters.sql import SqlDatabase
    from darkroom.ports import Identity, Users
    from darkroom.services.sharing import Sharing

log = logging.getLogger(__name__)

F = TypeVar("F")
SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")


class ConfigError(ValueError):
    """A setting names a backend darkroom does not know, or cannot use as given."""


@dataclass
class Darkroom:
    """Everything wired, for one process."""

    settings: Settings
    originals: BlobStore
    variants: BlobStore
    catalog: Catalog
    queue: JobQueue
    transactions: Transactions
    notifier: Notifications
    mailer: Mailer
    gallery: Gallery
    processor: Processor
    cleanup: Cleanup
    signer: UrlSigner
    served_stores: dict[str, BlobStore]
    """Stores whose signed URLs darkroom's own web server answers (`/files/<name>/…`)."""
    wakeup: threading.Event = field(default_factory=threading.Event)
    runs: RunLog = field(kw_only=True)
    """Processing runs, for `darkroom stats` and the admin page."""
    metrics: PrometheusMetrics | None = field(kw_only=True)
    """What `GET /metrics` shows; None unless DARKROOM_METRICS=prometheus."""
    counts: KeptCounts = field(kw_only=True)
    """Stores and catalog counted at most once a minute, for `/metrics` and the admin page."""
    _threads: list[threading.Thread] = field(default_factory=list)
    _children: ChildProcesses | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    identity: Identity | None = None
    """Who callers are; None with DARKROOM_AUTH=none (one user, no sign-in)."""
    sharing: Sharing | None = None
    """Share links; None where the catalog has no place to keep them (DynamoDB)."""

    def dropped_owner(self) -> str:
        """Who a photo put straight into the originals store belongs to: the account
        DARKROOM_DROPPED_OWNER names (`build` refuses it without sign-in), else the gallery's
        one user."""
        email = self.settings.dropped_owner
        return self.identity.owner_of(email) if email and self.identity else LOCAL_OWNER

    def worker(self, name: str = "worker", processor: Processor | None = None) -> Worker:
        s = self.settings
        return Worker(
            self.queue,
            processor or self.processor,
            name=f"{name}-{os.getpid()}",
            lease_seconds=s.job_lease,
            retry=RetryPolicy(attempts=s.job_attempts, base_delay=s.retry_base),
            notifications=self.notifier,
            wakeup=self.wakeup,
        )

    def doctor(self) -> Doctor:
        return Doctor(
            self.originals, self.variants, self.catalog, self.queue, self.gallery, self.cleanup
        )

    def start_workers(self, count: int | None = None) -> None:
        """Worker threads in this process (the server's), each rendering in a child process
        of its own: a decoder's crash ends the child and fails the photo, not the server."""
        from darkroom.adapters.child_process import ChildProcesses

        self._stop.clear()
        self._children = self._children or ChildProcesses()
        processor = self.processor.developing_with(self._children)
        children = self._children

        def run(worker: Worker) -> None:
            children.warm()
            worker.run(self._stop)

        for index in range(self.settings.workers if count is None else count):
            worker = self.worker(f"worker{index}", processor)
            thread = threading.Thread(target=run, args=(worker,), name=worker.name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_workers(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.wakeup.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._children is not None:
            self._children.close()
            self._children = None


def build(settings: Settings | None = None) -> Darkroom:
    settings = settings or Settings()
    signer = UrlSigner(_secret(settings))
    originals = _store("originals", settings.originals_url(), "DARKROOM_ORIGINALS", signer)
    variants = _store("variants", settings.variants_url(), "DARKROOM_VARIANTS_STORE", signer)
    if settings.originals_url() == settings.variants_url():
        raise ConfigError(
            "DARKROOM_VARIANTS_STORE must differ from DARKROOM_ORIGINALS: "
            "variants written among originals would be processed again"
        )
    wakeup = threading.Event()
    catalog, db = _catalog(settings.catalog_url())
    queue, transactions = _queue(settings, db, wakeup)
    mailer = _mailer(settings)
    notifier = _notifier(settings, mailer, queue, catalog)
    cleanup = Cleanup(originals, variants, catalog)
    gallery = Gallery(
        originals,
        variants,
        catalog,
        queue,
        transactions,
        cleanup,
        max_upload_bytes=settings.max_upload_bytes,
        upload_url_ttl=settings.upload_url_ttl,
        download_url_ttl=settings.download_url_ttl,
    )
    runs = _runs(db)
    counts = KeptCounts(catalog, {"originals": originals, "variants": variants})
    metrics, meter = _metrics(settings.metrics, queue, counts)
    processor = Processor(
        originals,
        variants,
        catalog,
        notifier,
        settings.variant_specs(),
        settings.limits(),
        include_gps=settings.include_gps,
        watermark=settings.watermark(),
        meter=Meters([runs, *meter]),
    )
    served = {
        name: s for name, s in (("originals", originals), ("variants", variants)) if _self_served(s)
    }
    identity = _identity(settings, db, mailer)
    if settings.dropped_owner:
        if identity is None:
            raise ConfigError(
                "DARKROOM_DROPPED_OWNER needs sign-in (DARKROOM_AUTH): without it every photo"
                " belongs to the gallery's one user"
            )
        from darkroom.services.accounts import check_email  # argon2: not for every start

        try:
            check_email(settings.dropped_owner)
        except BadRequest as exc:
            raise ConfigError(f"DARKROOM_DROPPED_OWNER: {exc}") from None
    return Darkroom(
        settings,
        originals,
        variants,
        catalog,
        queue,
        transactions,
        notifier,
        mailer,
        gallery,
        processor,
        cleanup,
        signer,
        served,
        wakeup,
        identity=identity,
        sharing=_sharing(settings, db, gallery),
        runs=runs,
        metrics=metrics,
        counts=counts,
    )


def _self_served(store: BlobStore) -> bool:
    from darkroom.adapters.filesystem import FilesystemBlobStore
    from darkroom.adapters.memory import MemoryBlobStore

    return isinstance(store, FilesystemBlobStore | MemoryBlobStore)


def _secret(settings: Settings) -> bytes:
    if settings.secret:
        return settings.secret.encode()
    path = settings.data_dir / ".secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_once(path, secrets.token_urlsafe(32))
    secret = path.read_text().strip()
    if len(secret) < 16:
        raise ConfigError(
            f"{path} holds no usable signing secret (under 16 characters): remove it to have"
            " one made, or set DARKROOM_SECRET"
        )
    return secret.encode()


def _write_once(path: Path, text: str) -> None:
    """`text` into `path` unless something made it first. Written whole under a name of its
    own, then linked into place: a process starting at the same time finds no file or all
    of it, and the first link wins. Where the file system has no hard links (FAT, some
    network mounts), created in place."""
    draft = path.with_name(f"{path.name}.{secrets.token_hex(8)}")
    _create(draft, text)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    except OSError:
        with contextlib.suppress(FileExistsError):
            _create(path, text)
    finally:
        draft.unlink()


def _create(path: Path, text: str) -> None:
    """A new file only its owner reads, holding `text`; FileExistsError if there is one."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.split("+")[0].lower()


def _store(name: str, url: str, setting: str, signer: UrlSigner) -> BlobStore:
    def filesystem() -> BlobStore:
        from darkroom.adapters.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(name, Path(unquote(urlsplit(url).path)), signer)

    def memory() -> BlobStore:
        from darkroom.adapters.memory import MemoryBlobStore

        return MemoryBlobStore(name, signer)

    def s3() -> BlobStore:
        from darkroom.adapters.s3 import S3BlobStore, S3Location

        try:
            return S3BlobStore(S3Location.parse(url))
        except ValueError as exc:
            raise ConfigError(f"{setting}: {exc}") from None

    return _pick({"file": filesystem, "memory": memory, "s3": s3}, url, setting)()


def _catalog(url: str) -> tuple[Catalog, SqlDatabase | None]:
    def sql() -> tuple[Catalog, SqlDatabase | None]:
        from darkroom.adapters.sql import SqlCatalog, SqlDatabase

        db = SqlDatabase(url)
        db.create_schema()
        return SqlCatalog(db), db

    def memory() -> tuple[Catalog, SqlDatabase | None]:
        from darkroom.adapters.memory import MemoryCatalog

        return MemoryCatalog(), None

    def dynamodb() -> tuple[Catalog, SqlDatabase | None]:
        from darkroom.adapters.dynamodb import DynamoDbCatalog

        table, endpoint, region = _dynamodb_table(url)
        return DynamoDbCatalog(table, endpoint_url=endpoint, region=region), None

    factories = {scheme: sql for scheme in SQL_SCHEMES} | {"memory": memory, "dynamodb": dynamodb}
    return _pick(factories, url, "DARKROOM_CATALOG")()


def _queue(
    settings: Settings, db: SqlDatabase | None, wakeup: threading.Event
) -> tuple[JobQueue, Transactions]:
    def local() -> tuple[JobQueue, Transactions]:
        from darkroom.adapters.local_queue import LocalJobQueue
        from darkroom.adapters.sql import SqlDatabase

        # Jobs live beside the photo rows so both are written in one transaction.
        queue_db = db
        if queue_db is None:
            queue_db = SqlDatabase(f"sqlite:///{(settings.data_dir / 'jobs.db').resolve()}")
            queue_db.create_schema()
        return LocalJobQueue(queue_db, wakeup), queue_db

    def memory() -> tuple[JobQueue, Transactions]:
        from darkroom.adapters.memory import MemoryJobQueue, MemoryTransactions

        return MemoryJobQueue(wakeup), MemoryTransactions()

    def sqs() -> tuple[JobQueue, Transactions]:
        from darkroom.adapters.aws import url_options
        from darkroom.adapters.dynamodb_jobs import DynamoDbJobLedger
        from darkroom.adapters.sqs import SqsJobQueue

        # sqs+https://sqs.REGION.amazonaws.com/ACCOUNT/NAME?table=TABLE: the queue's URL,
        # and the DynamoDB table of its job ledger (by default the catalog's).
        options = url_options(settings.queue)
        queue_url = settings.queue.split("?", 1)[0].removeprefix("sqs+")
        catalog = settings.catalog_url()
        table = options.get("table") or (
            urlsplit(catalog).netloc if _scheme(catalog) == "dynamodb" else ""
        )
        if not queue_url.startswith(("https://", "http://")) or not table:
            raise ConfigError(
                "DARKROOM_QUEUE: expected sqs+https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, "
                "with ?table=NAME unless DARKROOM_CATALOG is dynamodb://"
            )
        endpoint, region = options.get("endpoint_url"), options.get("region")
        ledger = DynamoDbJobLedger(table, endpoint_url=endpoint, region=region)
        queue = SqsJobQueue(queue_url, ledger, endpoint_url=endpoint, region=region)
        return queue, queue

    factories = {"local": local, "memory": memory, "sqs": sqs}
    return _pick(factories, settings.queue, "DARKROOM_QUEUE")()


def _notifier(
    settings: Settings, mailer: Mailer, queue: JobQueue, catalog: Catalog
) -> Notifications:
    """`DARKROOM_NOTIFY`: targets separated by commas, each told on its own."""
    items = [item.strip() for item in settings.notify.split(",") if item.strip()]
    targets: list[Target] = []
    for item in items:
        if item.lower() != "none":
            target = _target(item, settings, mailer)
            # Names tell a retry's job which target it is for: two alike get numbers.
            alike = sum(t.name.split(" #")[0] == target.name for t in targets)
            targets.append(
                Target(f"{target.name} #{alike + 1}", target.notifier) if alike else target
            )
    return Notifications(targets, queue, catalog, retry_delay=settings.retry_base)


def _target(url: str, settings: Settings, mailer: Mailer) -> Target:
    setting = "DARKROOM_NOTIFY"
    if url.startswith("arn:"):
        url = f"sns://{url}"
    where = urlsplit(url.removeprefix("webhook+")).netloc

    def logged() -> Target:
        from darkroom.adapters.log import LogNotifier

        return Target("log", LogNotifier())

    def memory() -> Target:
        from darkroom.adapters.memory import MemoryNotifier

        return Target("memory", MemoryNotifier())

    def sns() -> Target:
        from darkroom.adapters.aws import url_options
        from darkroom.adapters.sns import SnsNotifier

        # sns://arn:aws:sns:REGION:ACCOUNT:TOPIC; the topic's region unless ?region= says.
        options = url_options(url)
        arn = url.split("?", 1)[0].removeprefix("sns://")
        parts = arn.split(":")
        if len(parts) != 6 or parts[2] != "sns":
            raise ConfigError(f"{setting}: {arn!r} is not an SNS topic ARN")
        region = options.get("region") or parts[3]
        notifier = SnsNotifier(arn, endpoint_url=options.get("endpoint_url"), region=region)
        return Target(f"sns {parts[5]}", notifier)

    def webhook() -> Target:
        from darkroom.adapters.webhook import WebhookNotifier

        if len(settings.webhook_secret) < 16:
            raise ConfigError(
                f"{setting} names a webhook: set DARKROOM_WEBHOOK_SECRET "
                "(at least 16 characters) to sign what it is sent"
            )
        try:
            notifier = WebhookNotifier(
                url.removeprefix("webhook+"), settings.webhook_secret.encode()
            )
        except ValueError as exc:
            raise ConfigError(f"{setting}: {exc}") from None
        # A webhook's path may be its secret (Slack's are): the name shows a digest of it.
        digest = hashlib.sha256(url.encode()).hexdigest()[:8]
        return Target(f"webhook {where} {digest}", notifier)

    def mailto() -> Target:
        from darkroom.services.notifications import MailNotifier

        address = unquote(url.split(":", 1)[1])
        if "@" not in address:
            raise ConfigError(f"{setting}: {url!r} is not mailto:ADDRESS")
        return Target(f"mail to {address}", MailNotifier(mailer, address))

    def smtp() -> Target:
        from darkroom.adapters.smtp import SmtpMailer
        from darkroom.services.notifications import MailNotifier

        address = parse_qs(urlsplit(url).query).get("to", [""])[-1]
        if "@" not in address:
            raise ConfigError(f"{setting}: {url.split('@')[-1]!r} needs ?to=ADDRESS")
        try:
            own = SmtpMailer(url, settings.mail_from)
        except ValueError as exc:
            raise ConfigError(f"{setting}: {exc}") from None
        return Target(f"mail to {address} via {own.host}", MailNotifier(own, address))

    factories = {
        "log": logged,
        "memory": memory,
        "sns": sns,
        "webhook": webhook,
        "mailto": mailto,
        "smtp": smtp,
    }
    scheme = url.split(":", 1)[0].split("+")[0].strip().lower()
    return _pick(factories, f"{scheme}://", setting)()


def _runs(db: SqlDatabase | None) -> RunLog:
    """Beside the photos in an SQL catalog; elsewhere (DynamoDB on Lambda, where CloudWatch
    keeps the figures) only this process's own."""
    if db is None:
        from darkroom.adapters.memory import MemoryRunLog

        return MemoryRunLog()
    from darkroom.adapters.sql_runs import SqlRunLog

    return SqlRunLog(db)


def _metrics(
    kind: str, queue: JobQueue, counts: KeptCounts
) -> tuple[PrometheusMetrics | None, list[Meter]]:
    if kind == "prometheus":
        from darkroom.adapters.prometheus import PrometheusMetrics, Sources

        metrics = PrometheusMetrics(Sources(queue, counts))
        return metrics, [metrics]
    if kind == "emf":
        from darkroom.adapters.emf import EmfMeter

        return None, [EmfMeter()]
    return None, []


def _mailer(settings: Settings) -> Mailer:
    def logged() -> Mailer:
        from darkroom.adapters.log import LogMailer

        return LogMailer()

    def memory() -> Mailer:
        from darkroom.adapters.memory import MemoryMailer

        return MemoryMailer()

    def smtp() -> Mailer:
        from darkroom.adapters.smtp import SmtpMailer

        try:
            return SmtpMailer(settings.mail, settings.mail_from)
        except ValueError as exc:
            raise ConfigError(f"DARKROOM_MAIL: {exc}") from None

    factories = {"log": logged, "memory": memory, "smtp": smtp}
    return _pick(factories, settings.mail, "DARKROOM_MAIL")()


def _dynamodb_table(url: str) -> tuple[str, str | None, str | None]:
    """The table, endpoint and region of a `dynamodb://TABLE?…` catalog."""
    from darkroom.adapters.aws import url_options

    options = url_options(url)
    return urlsplit(url).netloc, options.get("endpoint_url"), options.get("region")


def _sharing(settings: Settings, db: SqlDatabase | None, gallery: Gallery) -> Sharing | None:
    """Share links beside the photos: in their SQL database or DynamoDB table. Their tokens
    are signed with DARKROOM_SECRET; without it, on a machine whose data directory is not
    kept (a Lambda's), a link would stop working when the process ends: no share links."""
    from darkroom.services.sharing import Sharing
    from darkroom.tokens import TokenCodec

    catalog = settings.catalog_url()
    shares: Shares
    if db is not None:
        from darkroom.adapters.sql_accounts import SqlShares

        db.create_schema()
        shares = SqlShares(db)
    elif _scheme(catalog) == "dynamodb":
        from darkroom.adapters.dynamodb_accounts import DynamoDbShares

        if not settings.secret:
            return None
        table, endpoint, region = _dynamodb_table(catalog)
        shares = DynamoDbShares(table, endpoint_url=endpoint, region=region)
    else:
        from darkroom.adapters.memory import MemoryShares

        shares = MemoryShares()
    return Sharing(gallery, shares, TokenCodec(_secret(settings)), settings.share_ttl)


def _identity(settings: Settings, db: SqlDatabase | None, mailer: Mailer) -> Identity | None:
    def none() -> Identity | None:
        return None

    def local() -> Identity | None:
        from darkroom.adapters.memory import MemoryUsers
        from darkroom.services.accounts import Accounts, Lifetimes
        from darkroom.tokens import TokenCodec

        lifetimes = Lifetimes(access=settings.access_token_ttl, refresh=settings.refresh_token_ttl)
        catalog = settings.catalog_url()
        if db is not None:
            from darkroom.adapters.sql_accounts import SqlUsers

            db.create_schema()
            users: Users = SqlUsers(db)
        elif _scheme(catalog) == "dynamodb":
            from darkroom.adapters.dynamodb_accounts import DynamoDbUsers

            if not settings.secret:
                raise ConfigError(
                    "DARKROOM_AUTH=local with a DynamoDB catalog needs DARKROOM_SECRET: "
                    "tokens must outlive the process that signed them"
                )
            table, endpoint, region = _dynamodb_table(catalog)
            users = DynamoDbUsers(table, endpoint_url=endpoint, region=region)
        else:
            users = MemoryUsers()
        codec = TokenCodec(_secret(settings))
        return Accounts(users, mailer, codec, settings.page_url(), lifetimes)

    def cognito() -> Identity | None:
        from darkroom.adapters.cognito import CognitoIdentity

        try:
            return CognitoIdentity.from_url(settings.auth)
        except ValueError as exc:
            raise ConfigError(f"DARKROOM_AUTH: {exc}") from None

    factories = {"none": none, "local": local, "cognito": cognito}
    return _pick(factories, settings.auth, "DARKROOM_AUTH")()


def _pick(factories: dict[str, F], url: str, setting: str) -> F:
    scheme = _scheme(url) if "://" in url else url.strip().lower()
    try:
        return factories[scheme]
    except KeyError:
        raise ConfigError(
            f"{setting} has scheme {scheme!r}; expected one of {', '.join(sorted(factories))}"
        ) from None
