"""The Users and Shares contracts (`test_users.py`'s own tests) over DynamoDB on moto's
server, in the table the photos live in."""

from __future__ import annotations

import pytest

from darkroom.adapters.dynamodb_accounts import DynamoDbShares, DynamoDbUsers
from darkroom.adapters.dynamodb_table import create_table
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
    users.update(test_users.ann(email="Ann@New.example.org"))
    assert users.find("ann@example.org") is None
    moved = users.find("ann@new.example.org")
    assert moved is not None and moved.id == "u1"
    users.add(test_users.ann(id="u2"))  # the old address is free again
    with pytest.raises(Conflict):
        users.update(test_users.ann(id="u2", email="ann@new.example.org"))
