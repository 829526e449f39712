"""The one DynamoDB table darkroom keeps its photos and jobs in, and the sort keys and
cursors of its index `gsi1`."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from darkroom.adapters.aws import client, translated
from darkroom.errors import BadRequest

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

_POSITION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\|[^|]{1,200}")

TABLE_SCHEMA: dict[str, Any] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": f"{index}pk", "KeyType": "HASH"},
                {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in ("gsi1", "gsi2")
    ],
}
"""The table's definition; `infra/template.yaml` declares the same (a test compares them)."""


def create_table(dynamodb: DynamoDBClient, table: str) -> None:
    """For tests and self-hosting; on AWS the SAM template makes the table."""
    with translated(f"cannot create table {table}"):
        dynamodb.create_table(TableName=table, **TABLE_SCHEMA)
        dynamodb.get_waiter("table_exists").wait(TableName=table)


def position(created_at: datetime, item_id: str) -> str:
    """Sorts like (created_at, id): fixed-width UTC time, then the id."""
    return f"{created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}|{item_id}"


def encode_cursor(at: str) -> str:
    return base64.urlsafe_b64encode(at.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        at = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        at = ""
    if not _POSITION.fullmatch(at):
        raise BadRequest("this cursor was not given out by darkroom")
    return at


class TableUser:
    """Something kept in darkroom's table: the table's name and a client made on first use,
    so that building the adapter costs nothing on a Lambda's cold start."""

    def __init__(
        self,
        table: str,
        dynamodb_client: DynamoDBClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.table = table
        self._client = dynamodb_client
        self._endpoint_url = endpoint_url
        self._region = region

    @property
    def dynamodb(self) -> DynamoDBClient:
        if self._client is None:
            self._client = client("dynamodb", self._endpoint_url, self._region)
        return self._client

    def item(self, pk: str) -> dict[str, Any] | None:
        """The item under partition key `pk`, read consistently."""
        with translated(f"cannot read {pk}"):
            answer = self.dynamodb.get_item(
                TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
            )
        return answer.get("Item")

    def put_new(self, what: str, *items: dict[str, Any]) -> None:
        """Writes `items` in one transaction, all or none, none over an existing item (an
        item and the claims that keep a value unique). Raises `Conflict`."""
        with translated(f"cannot add {what}"):
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for item in items
                ]
            )
