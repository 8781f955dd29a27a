"""The Redis target's text forms and key names, and the settings it refuses before connecting (no server)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from connectors.base import Column, Endpoint, TableId, TableSchema
from connectors.errors import ConfigError
from connectors.redis import values
from connectors.redis.connect import client

SCHEMA = TableSchema(TableId("sales", "orders"), (Column("id", "int8"), Column("ok", "bool"), Column("f", "float8"),
                                                   Column("n", "numeric"), Column("b", "bytes"), Column("t", "text")),
                     ("id",))


def test_text_forms_read_back_as_the_same_values():
    row = {"id": -7, "ok": False, "f": -math.inf, "n": Decimal("1E+2"), "b": b"\x00\xff", "t": ""}
    fields = values.fields(SCHEMA, row, full=True)
    assert fields == {"id": "-7", "ok": "false", "f": "-Infinity", "n": "100", "b": "0x00ff", "t": ""}
    assert values.row(SCHEMA, {k.encode(): v.encode() for k, v in fields.items()}) == row
    assert values.row(SCHEMA, {b"id": b"1"}) == {"id": 1, "ok": None, "f": None, "n": None, "b": None, "t": None}
    assert values.text(float("nan")) == "NaN" and values.text(0.1) == "0.1"


def test_keys_are_schema_table_key_and_several_columns_never_collide():
    assert values.key(SCHEMA, {"id": 42}) == "sales.orders.42"
    two = TableSchema(TableId("s", "t"), (Column("a", "text"), Column("b", "text")), ("a", "b"))
    assert values.key(two, {"a": "x.y", "b": "z"}) != values.key(two, {"a": "x", "b": "y.z"})
    assert values.key(two, {"a": "x", "b": "y"}) == "s.t.x.y"
    assert values.pattern(TableSchema(TableId("s", "t*[1]"), (), ())) == "s.t\\*\\[1\\].*"


@pytest.mark.parametrize(("extra", "password", "error"), [
    ({"SslCaCertificateArn": "arn:aws:acm:us-east-1:1:certificate/x"}, "", "is an ARN, which OpenDMS cannot fetch"),
    ({"AuthType": "auth-token"}, "", "AuthType auth-token needs AuthPassword in --redis-settings"),
    ({"AuthType": "auth-role"}, "pw", "AuthType auth-role needs AuthUserName in --redis-settings"),
])
def test_settings_refused_before_connecting(extra, password, error):
    with pytest.raises(ConfigError, match=error):
        client(Endpoint("r", "target", "redis", "h", 6379, password=password, extra=extra))
