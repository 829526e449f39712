"""Notifications: `DARKROOM_NOTIFY` as a list of targets, each retried with backoff on its
own; a target that stays away is given up in the log and never fails the processing."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import pytest

from darkroom.adapters.log import LogNotifier
from darkroom.adapters.memory import MemoryNotifier
from darkroom.adapters.smtp import SmtpMailer
from darkroom.adapters.sns import SnsNotifier
from darkroom.adapters.webhook import WebhookNotifier
from darkroom.bootstrap import ConfigError, Darkroom, build
from darkroom.config import Settings
from darkroom.domain import Job, JobState, Photo, PhotoStatus
from darkroom.errors import Unavailable
from darkroom.services.gallery import utcnow
from darkroom.services.notifications import MailNotifier, Target
from tests.corpus import corpus

JPEG = "S01_canon_sd300_2mp.jpg"


class Flaky:
    """Unavailable for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.told: list[str] = []

    def photo_processed(self, photo: Photo) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise Unavailable(f"away (call {self.calls})")
        self.told.append(photo.id)


def _settings(tmp_path: Path, notify: str, **more: str) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": tmp_path,
            "catalog": "memory://",
            "queue": "memory",
            "originals": "memory://",
            "variants_store": "memory://variants",
            "secret": "test-secret-of-sixteen+",
            "workers": 0,
            "notify": notify,
        }
        | more
    )


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:8]


def test_several_targets_at_once(tmp_path: Path) -> None:
    notify = (
        "log, webhook+https://hooks.example.org/darkroom?app=1, mailto:ann@example.org,"
        "smtp://mail.example.org:2525?to=bob@example.org&tls=starttls,"
        "sns://arn:aws:sns:eu-west-1:123456789012:photos"
    )
    dr = build(_settings(tmp_path, notify, webhook_secret="hook-secret-0123456789"))
    names = [t.name for t in dr.notifier.targets]
    assert names == [
        "log",
        f"webhook hooks.example.org {_digest('webhook+https://hooks.example.org/darkroom?app=1')}",
        "mail to ann@example.org",
        "mail to bob@example.org via mail.example.org",
        "sns photos",
    ]
    log, hook, mail, smtp, sns = (t.notifier for t in dr.notifier.targets)
    assert isinstance(log, LogNotifier)
    assert isinstance(hook, WebhookNotifier)
    assert hook.url == "https://hooks.example.org/darkroom?app=1"
    assert isinstance(mail, MailNotifier) and mail.to == "ann@example.org"
    assert isinstance(smtp, MailNotifier) and smtp.to == "bob@example.org"
    assert isinstance(sns, SnsNotifier) and sns.topic_arn.endswith(":photos")
    assert build(_settings(tmp_path, "none")).notifier.targets == ()


def test_mail_targets_use_the_mailer_or_their_own_server(tmp_path: Path) -> None:
    dr = build(_settings(tmp_path, "mailto:ann@example.org,smtp://m.example.org?to=b@e.org"))
    mailto, smtp = (t.notifier for t in dr.notifier.targets)
    assert isinstance(mailto, MailNotifier) and isinstance(smtp, MailNotifier)
    assert mailto.mailer is dr.mailer
    assert isinstance(smtp.mailer, SmtpMailer) and smtp.mailer.host == "m.example.org"


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ("webhook+https://hooks.example.org/x", "DARKROOM_WEBHOOK_SECRET"),
        ("log,mailto:nobody", "DARKROOM_NOTIFY: 'mailto:nobody'"),
        ("smtp://mail.example.org", "needs \\?to=ADDRESS"),
        ("webhook+ftp://x", "DARKROOM_NOTIFY"),
        ("log,pigeon://coop", "DARKROOM_NOTIFY has scheme 'pigeon'"),
    ],
)
def test_bad_targets_are_named(tmp_path: Path, notify: str, message: str) -> None:
    settings = _settings(tmp_path, notify, webhook_secret="hook-secret-0123456789")
    if "WEBHOOK_SECRET" in message:
        settings.webhook_secret = ""
    with pytest.raises(ConfigError, match=message):
        build(settings)


def _with_targets(dr: Darkroom, monkeypatch: pytest.MonkeyPatch, *targets: Target) -> None:
    monkeypatch.setattr(dr.notifier, "targets", targets)


def _notify_job(dr: Darkroom) -> Job:
    (job,) = [j for j in dr.queue.jobs(frozenset(JobState)) if j.kind != "process"]
    return job


def test_a_failed_delivery_becomes_a_job_retried_on_its_own(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    flaky, steady = Flaky(failures=2), MemoryNotifier()
    _with_targets(dr, monkeypatch, Target("flaky", flaky), Target("steady", steady))
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    assert dr.worker().drain() == 1
    assert [p.id for p in steady.sent] == [photo.id] and flaky.told == []
    job = _notify_job(dr)
    assert (job.kind, job.photo_id, job.state) == ("notify:flaky", photo.id, JobState.QUEUED)
    assert job.run_at > job.created_at
    for state in (JobState.QUEUED, JobState.DONE):
        dr.queue.retry(job.id, utcnow())
        assert dr.worker().drain() == 1
        job = _notify_job(dr)
        assert job.state is state
    assert flaky.told == [photo.id] and flaky.calls == 3
    assert [p.id for p in steady.sent] == [photo.id]
    assert dr.catalog.get(photo.id).status is PhotoStatus.READY


def test_a_target_that_stays_away_ends_a_dead_job_not_a_failed_photo(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dr = memory_darkroom
    dr.settings.job_attempts = 2
    dr.settings.retry_base = 0.001
    away = Flaky(failures=99)
    _with_targets(dr, monkeypatch, Target("webhook hooks.example.org/x", away))
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    dr.worker().drain()
    dr.queue.retry(_notify_job(dr).id, utcnow())
    with caplog.at_level(logging.WARNING):
        while _notify_job(dr).state is not JobState.DEAD:
            time.sleep(0.01)
            dr.worker().drain()
    dead = _notify_job(dr)
    assert dead.kind == "notify:webhook hooks.example.org/x" and "away" in dead.last_error
    assert away.calls == 3
    assert dr.catalog.get(photo.id).status is PhotoStatus.READY
    assert "notify:webhook hooks.example.org/x dead after 2 attempts" in caplog.text


def test_a_delivery_for_a_gone_photo_or_target_is_dropped(memory_darkroom: Darkroom) -> None:
    dr = memory_darkroom
    dr.notifier.deliver_again("no-such-photo", "notify:memory")
    dr.notifier.deliver_again("no-such-photo", "notify:pigeon")


def test_notification_trouble_never_fails_or_repeats_processing(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    (target,) = dr.notifier.targets
    away = Flaky(failures=99)
    _with_targets(dr, monkeypatch, Target("away", away), target)
    photo = dr.gallery.upload("ann", corpus(JPEG), "a.jpg").photo
    assert dr.worker().drain() == 1
    assert dr.catalog.get(photo.id).status is PhotoStatus.READY
    (done,) = dr.queue.jobs(frozenset({JobState.DONE}))
    assert done.kind == "process" and done.attempts == 1
    assert away.calls == 1
    assert isinstance(target.notifier, MemoryNotifier)
    assert [p.id for p in target.notifier.sent] == [photo.id]
