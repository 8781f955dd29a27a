"""DynamoDB as a target (keyed), on dynalite (tests/servers_dynamodb.py): tables are account-wide, so each
module's tables carry their own names already (the suite makes them unique)."""

from __future__ import annotations

import pytest

from connectors.base import Endpoint

from . import Engine, register


@register
class DynamoEngine(Engine):
    name = "dynamodb"
    roles = ("target",)
    pairs = (("postgres", "dynamodb"),)
    # a key of six columns needs an object-mapping rule naming its columns, which the suite's generic cases do
    # not give: tests/conformance/test_dynamodb_mapping.py runs the same case with one
    cannot = {"test_keys_of_many_types_find_their_rows": "a DynamoDB table's key is a partition key and at most "
              "a sort key: a key of six columns needs an object-mapping rule (test_dynamodb_mapping.py has it)"}

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(request.getfixturevalue("dynamodb_server").url)

    def __init__(self, url: str) -> None:
        self.url = url

    def endpoint(self, kind: str) -> Endpoint:
        return Endpoint(f"dynamodb-{kind}", kind, "dynamodb", extra={"EndpointUrl": self.url, "Region": "us-east-1"})
