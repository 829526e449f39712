"""Everyone's photos on DynamoDB (moto's server) are read in one pass over the table, by
`doctor` and `reprocess` alike, however many pages they take: counted through the client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from darkroom.adapters.dynamodb import DynamoDbCatalog, _item
from darkroom.adapters.dynamodb_table import create_table
from darkroom.bootstrap import Darkroom
from darkroom.domain import Photo, PhotoStatus
from darkroom.services.doctor import Doctor, Problem
from tests.aws.servers import aws_client, moto_endpoint, unique

PHOTOS = 1100
"""More than two of the pages `doctor` asked for (500) when it listed everyone's photos."""
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@dataclass
class Counting:
    """A DynamoDB client that counts the items its scans read."""

    client: Any
    scans: int = 0
    scanned: int = 0

    def scan(self, **kwargs: Any) -> Any:
        answer = self.client.scan(**kwargs)
        self.scans += 1
        self.scanned += answer["ScannedCount"]
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture(scope="module")
def table() -> str:
    """A table of `PHOTOS` ready photos, written straight in (25 an item batch)."""
    dynamodb = aws_client("dynamodb", moto_endpoint())
    name = unique("darkroom-scale")
    create_table(dynamodb, name)
    photos = [
        Photo(
            f"{i:032x}",
            f"owner{i % 7}",
            f"1764000000000_{i:032x}.jpg",
            "a.jpg",
            NOW - timedelta(minutes=i),
            NOW - timedelta(minutes=i),
            status=PhotoStatus.READY,
        )
        for i in range(PHOTOS)
    ]
    for start in range(0, PHOTOS, 25):
        dynamodb.batch_write_item(
            RequestItems={
                name: [{"PutRequest": {"Item": _item(p)}} for p in photos[start : start + 25]]
            }
        )
    return name


def test_doctor_reads_the_table_once(table: str, memory_darkroom: Darkroom) -> None:
    counting = Counting(aws_client("dynamodb", moto_endpoint()))
    catalog = DynamoDbCatalog(table, counting)  # type: ignore[arg-type]
    dr = memory_darkroom
    doctor = Doctor(dr.originals, dr.variants, catalog, dr.queue, dr.gallery, dr.cleanup)
    findings = doctor.examine(grace=0)
    assert len(findings) == PHOTOS  # no original was stored for any of them
    assert {f.problem for f in findings} == {Problem.MISSING_ORIGINAL}
    # One pass: before, each page of 500 scanned the whole table (3 scans, 3300 items).
    assert counting.scanned <= PHOTOS + 10, (counting.scans, counting.scanned)


def test_every_follows_the_scan_once(table: str) -> None:
    counting = Counting(aws_client("dynamodb", moto_endpoint()))
    catalog = DynamoDbCatalog(table, counting)  # type: ignore[arg-type]
    ids = [p.id for p in catalog.every()]
    assert len(ids) == len(set(ids)) == PHOTOS
    assert counting.scanned <= PHOTOS + 10
