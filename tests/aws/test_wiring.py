"""AWS backends chosen by settings, as the Lambda functions get them: no request is made
and no client is created until one is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.adapters.dynamodb import DynamoDbCatalog
from darkroom.adapters.s3 import S3BlobStore, S3Location
from darkroom.adapters.sns import SnsNotifier
from darkroom.adapters.sqs import SqsJobQueue
from darkroom.bootstrap import ConfigError, build
from darkroom.config import Settings

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:photos"


def aws_settings(tmp_path: Path, **changes: str) -> Settings:
    values = {
        "originals": "s3://originals/o/?upload=put&endpoint_url=http://127.0.0.1:9",
        "variants_store": "s3://variants/v/",
        "catalog": "dynamodb://photos?region=eu-west-1",
        "queue": f"sqs+{QUEUE}",
        "notify": TOPIC,
    } | changes
    return Settings.model_validate(
        {"data_dir": tmp_path, "secret": "wiring-test-secret-16", "workers": 0} | values
    )


def test_aws_urls_become_aws_adapters(tmp_path: Path) -> None:
    dr = build(aws_settings(tmp_path))
    assert isinstance(dr.originals, S3BlobStore) and isinstance(dr.variants, S3BlobStore)
    assert dr.originals.location == S3Location(
        "originals", "o/", "http://127.0.0.1:9", None, "put", ""
    )
    assert dr.variants.location == S3Location("variants", "v/")
    assert isinstance(dr.catalog, DynamoDbCatalog) and dr.catalog.table == "photos"
    assert isinstance(dr.queue, SqsJobQueue) and dr.queue.queue_url == QUEUE
    assert dr.queue.ledger.table == "photos" and dr.transactions is dr.queue
    (sns,) = (t.notifier for t in dr.notifier.targets)
    assert isinstance(sns, SnsNotifier) and sns.topic_arn == TOPIC
    assert dr.served_stores == {}


def test_the_seed_names_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION_BUCKET", "resized-photos")
    monkeypatch.setenv("SNS_TOPIC_ARN", TOPIC)
    settings = Settings(
        data_dir=tmp_path,
        originals="s3://photos",
        catalog="dynamodb://photos",
        queue=f"sqs+{QUEUE}",
        secret="wiring-test-secret-16",
    )
    dr = build(settings)
    assert isinstance(dr.variants, S3BlobStore)
    assert dr.variants.location.bucket == "resized-photos"
    (sns,) = (t.notifier for t in dr.notifier.targets)
    assert isinstance(sns, SnsNotifier) and sns.topic_arn == TOPIC


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"originals": "s3://"}, "DARKROOM_ORIGINALS"),
        ({"variants_store": "s3://v?upload=ftp"}, "DARKROOM_VARIANTS_STORE"),
        ({"catalog": "sqlite:///:memory:"}, "DARKROOM_QUEUE"),
        ({"queue": "sqs+jobs"}, "DARKROOM_QUEUE"),
        ({"notify": "sns://photos"}, "DARKROOM_NOTIFY"),
        ({"catalog": "dynamo://photos"}, "DARKROOM_CATALOG"),
    ],
)
def test_bad_aws_settings_are_named(tmp_path: Path, changes: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        build(aws_settings(tmp_path, **changes))


def test_share_links_and_own_accounts_live_in_the_table(tmp_path: Path) -> None:
    dr = build(aws_settings(tmp_path, auth="local"))
    assert dr.sharing is not None and dr.identity is not None
    # Tokens signed with a secret made for one process would die with it (a Lambda's /tmp).
    unsigned = aws_settings(tmp_path).model_copy(update={"secret": ""})
    assert build(unsigned).sharing is None
    with pytest.raises(ConfigError, match="DARKROOM_SECRET"):
        build(unsigned.model_copy(update={"auth": "local"}))
