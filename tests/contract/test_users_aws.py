"""The Users and Shares contracts (`test_users.py`'s own tests) over DynamoDB on moto's
server, in the table the photos live in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from darkroom.adapters.dynamodb_accounts import DynamoDbShares, DynamoDbUsers
from darkroom.adapters.dynamodb_table import create_table
from darkroom.domain import Share
from darkroom.errors import Conflict
from darkroom.ports import Shares, Users
from tests.aws.servers import aws_client, moto_endpoint, unique
from tests.contract import test_users
from tests.contract.reuse import suite_of

globals().update(suite_of(test_users, "users") | suite_of(test_users, "shares"))


@pytest.fixture
def table() -> str:
    name = unique("darkroom")
    create_table(aws_client("dynamodb", moto_endpoint()), name)
    return name


@pytest.fixture
def users(table: str) -> Users:
    return DynamoDbUsers(table, aws_client("dynamodb", moto_endpoint()))


@pytest.fixture
def shares(table: str) -> Shares:
    return DynamoDbShares(table, aws_client("dynamodb", moto_endpoint()))


def test_an_address_moves_with_its_user(users: Users) -> None:
    users.add(test_users.ann())
    users.update(test_users.ann(email="Ann@New.example.org"), users.get("u1"))
    assert users.find("ann@example.org") is None
    moved = users.find("ann@new.example.org")
    assert moved is not None and moved.id == "u1"
    users.add(test_users.ann(id="u2"))  # the old address is free again
    with pytest.raises(Conflict):
        users.update(test_users.ann(id="u2", email="ann@new.example.org"), users.get("u2"))


def test_a_share_leaves_the_table_a_day_after_it_expires(shares: Shares, table: str) -> None:
    expires = test_users.NOW + timedelta(days=7)
    shares.add(Share("s1", "p1", "u1", test_users.NOW, expires))
    item = aws_client("dynamodb", moto_endpoint()).get_item(
        TableName=table, Key={"pk": {"S": "SHARE#s1"}}
    )["Item"]
    assert int(item["expires"]["N"]) == int(expires.timestamp()) + 86_400
