"""Values in PostgreSQL apply statements are cast to the column's type less any length limit: an explicit
cast to varchar(n) cuts a longer value silently, where storing it fails as the full load's COPY does."""

from __future__ import annotations

import pytest

from connectors.base import Column, TableId, TableSchema
from connectors.postgres.prepare import cast_type


@pytest.mark.parametrize(("native", "cast"), [
    ("character varying(10)", "varchar"), ("varchar(3)", "varchar"), ("character(4)", "bpchar"),
    ("bit varying(8)", "varbit"), ("bit(3)", "varbit"), ("character varying(10)[]", "varchar[]"),
    ("numeric(12,4)", "numeric(12,4)"), ("text", "text"), ("timestamp(3) without time zone",
                                                            "timestamp(3) without time zone"),
])
def test_a_length_limit_is_left_to_the_column(native: str, cast: str) -> None:
    column = Column("c", "text", native=native)
    schema = TableSchema(TableId("public", "t"), (column,), ("c",), engine="postgres")
    assert cast_type(schema, "c") == cast
