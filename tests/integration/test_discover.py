"""`dms endpoint discover`: what a source (or a target) database holds, read from the real server."""

from __future__ import annotations

import sqlite3

import pytest
from dms_env import SQLITE, execute

pytestmark = pytest.mark.integration


def test_discover_a_postgres_database_and_a_sqlite_file(dms, src, tmp_path):
    execute(src, "CREATE SCHEMA sales", "CREATE TABLE sales.orders (id bigint PRIMARY KEY, note text, UNIQUE (note))",
            "INSERT INTO sales.orders SELECT g, 'n' || g FROM generate_series(1, 5000) g", "ANALYZE sales.orders",
            "CREATE TABLE public.loose (a int, b text)")
    name = dms.endpoint(f"disc-{dms.suffix}", "source", src)
    doc = dms.json("endpoint", "discover", name)
    assert doc["EngineName"] == "postgres" and doc["EngineVersion"].startswith("15")
    tables = {(s["SchemaName"], t["TableName"]): t for s in doc["Schemas"] for t in s["Tables"]}
    orders = tables[("sales", "orders")]
    assert orders["RowsEstimate"] == 5000 and orders["PrimaryKey"] == ["id"] and orders["UniqueKeys"] == [["note"]]
    assert orders["SizeBytes"] > 5000 * 10 and orders["Columns"] == 2
    assert tables[("public", "loose")]["PrimaryKey"] == []
    text = dms.dms("endpoint", "discover", name, "--schema", "public").stdout
    assert "loose" in text and "key: NO KEY" in text and "orders" not in text

    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, t TEXT)")
    lite = dms.endpoint(f"disc-lite-{dms.suffix}", "target", SQLITE + str(path))  # a target is read too
    doc = dms.json("endpoint", "discover", lite)
    assert doc["EngineVersion"] == sqlite3.sqlite_version
    assert [(s["SchemaName"], [t["TableName"] for t in s["Tables"]]) for s in doc["Schemas"]] == [("main", ["items"])]
