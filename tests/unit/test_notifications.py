"""Notifications: `DARKROOM_NOTIFY` as a list of targets, each retried with backoff on its
own; a target that stays away is given up in the log and never fails the processing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from darkroom.adapters.log import LogNotifier
from darkroom.adapters.memory import MemoryNotifier
from darkroom.adapters.smtp import SmtpMailer
from darkroom.adapters.sns import SnsNotifier
from darkroom.adapters.webhook import WebhookNotifier
from darkroom.bootstrap import ConfigError, Darkroom, build
from darkroom.config import Settings
from darkroom.domain import JobState, Photo, PhotoStatus
from darkroom.errors import Unavailable
from darkroom.services.notifications import MailNotifier, Notifications, Target
from tests.contract.test_notifier import FAILED, READY
from tests.corpus import corpus


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
        "webhook hooks.example.org",
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


def test_a_failed_delivery_is_retried_with_backoff() -> None:
    flaky, steady = Flaky(failures=2), MemoryNotifier()
    slept: list[float] = []
    notifications = Notifications(
        [Target("flaky", flaky), Target("steady", steady)],
        attempts=4,
        base_delay=0.5,
        sleep=slept.append,
    )
    notifications.photo_processed(READY)
    assert flaky.told == ["p1"] and flaky.calls == 3
    assert slept == [0.5, 1.0]
    assert steady.sent == [READY]


def test_a_target_that_stays_away_is_given_up_and_the_others_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away, steady = Flaky(failures=99), MemoryNotifier()
    notifications = Notifications(
        [Target("webhook hooks.example.org", away), Target("memory", steady)],
        attempts=3,
        sleep=lambda _: None,
    )
    with caplog.at_level(logging.WARNING, "darkroom.notify"):
        notifications.photo_processed(FAILED)
    assert away.calls == 3 and steady.sent == [FAILED]
    (given_up,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert given_up.getMessage() == (
        "photo p2: notification to webhook hooks.example.org given up after 3 attempts: "
        "away (call 3)"
    )


def test_notification_trouble_never_fails_or_repeats_processing(
    memory_darkroom: Darkroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = memory_darkroom
    (target,) = dr.notifier.targets
    away = Flaky(failures=99)
    monkeypatch.setattr(dr.notifier, "targets", (Target("away", away), target))
    monkeypatch.setattr(dr.notifier, "_sleep", lambda _: None)
    photo = dr.gallery.upload("ann", corpus("S01_canon_sd300_2mp.jpg"), "a.jpg").photo
    assert dr.worker().drain() == 1
    assert dr.catalog.get(photo.id).status is PhotoStatus.READY
    assert dr.queue.jobs(frozenset(JobState))[0].state is JobState.DONE
    assert away.calls == dr.settings.notify_attempts
    assert isinstance(target.notifier, MemoryNotifier)
    assert [p.id for p in target.notifier.sent] == [photo.id]
