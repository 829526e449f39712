"""The Catalog contract (`test_catalog.py`'s own tests) over DynamoDB on moto's server."""

from __future__ import annotations

import pytest

from darkroom.adapters.dynamodb import DynamoDbCatalog
from darkroom.adapters.dynamodb_table import create_table
from darkroom.ports import Catalog
from tests.aws.servers import aws_client, moto_endpoint, unique
from tests.contract import test_catalog
from tests.contract.reuse import suite_of

globals().update(suite_of(test_catalog, "catalog"))


@pytest.fixture
def catalog() -> Catalog:
    dynamodb = aws_client("dynamodb", moto_endpoint())
    table = unique("darkroom")
    create_table(dynamodb, table)
    return DynamoDbCatalog(table, dynamodb)
