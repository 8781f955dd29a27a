"""A real public sample database, Chinook (tests/integration/chinook: MIT licence, origin in its LICENSE and
generate.py), moved MariaDB -> PostgreSQL with full-load-and-cdc while a store application writes to it: new
invoices with their lines, price and e-mail updates, invoice lines re-keyed, playlist entries deleted. Every
row is then equal by value: `dms task validate`, and a direct comparison of each table's rows."""

from __future__ import annotations

import gzip
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dms_env import LoopWriter, wait_for
from servers_mariadb import connect_url, query

pytestmark = pytest.mark.integration

CHINOOK = Path(__file__).with_name("chinook")
TABLES = {"Artist": 275, "Genre": 25, "MediaType": 5, "Playlist": 18, "Album": 347, "Employee": 8, "Customer": 59,
          "Track": 3503, "Invoice": 412, "InvoiceLine": 2240, "PlaylistTrack": 8715}


def _load(url: str) -> None:
    conn = connect_url(url, client_flag=1 << 16)  # CLIENT_MULTI_STATEMENTS: the scripts as they are
    try:
        with conn.cursor() as cur:
            for script in ((CHINOOK / "schema.sql").read_text(), gzip.decompress(
                    (CHINOOK / "data.sql.gz").read_bytes()).decode()):
                cur.execute(script)
                while cur.nextset():
                    pass
    finally:
        conn.close()


class StoreWriter(LoopWriter):
    """The store at work during the load and after it: one transaction per sale or change."""

    def __init__(self, url: str) -> None:
        super().__init__(url, 15, 0.005, ("sale", "update", "rekey", "delete"))
        self.invoice, self.line = 1000, 10_000

    def open_connection(self) -> Any:
        return connect_url(self.url)

    def step(self, cur: Any) -> str:
        rng = self.rng
        op = rng.choice(("sale", "sale", "update", "rekey", "delete"))
        cur.execute("START TRANSACTION")
        if op == "sale":
            self.invoice += 1
            invoice = self.invoice
            tracks = rng.sample(range(1, 3504), 2)
            cur.execute("INSERT INTO Invoice SELECT %s, CustomerId, UTC_TIMESTAMP(), Address, City, State, "
                        "Country, PostalCode, 0 FROM Customer WHERE CustomerId = %s", (invoice, rng.randint(1, 59)))
            for track in tracks:
                self.line += 1
                cur.execute("INSERT INTO InvoiceLine SELECT %s, %s, TrackId, UnitPrice, 1 FROM Track "
                            "WHERE TrackId = %s", (self.line, invoice, track))
            cur.execute("UPDATE Invoice SET Total = (SELECT SUM(UnitPrice * Quantity) FROM InvoiceLine "
                        "WHERE InvoiceId = %s) WHERE InvoiceId = %s", (invoice, invoice))
        elif op == "update":
            cur.execute("UPDATE Track SET UnitPrice = UnitPrice + 0.5 WHERE TrackId = %s", (rng.randint(1, 3503),))
            cur.execute("UPDATE Customer SET Email = CONCAT('new.', LEFT(Email, 50)), Company = NULL "
                        "WHERE CustomerId = %s", (rng.randint(1, 59),))
        elif op == "rekey":  # nothing references an invoice line: its key may change
            cur.execute("UPDATE InvoiceLine SET InvoiceLineId = InvoiceLineId + 100000 "
                        "WHERE InvoiceLineId = %s", (rng.randint(1, 2240),))
        else:
            cur.execute("DELETE FROM PlaylistTrack WHERE PlaylistId = %s ORDER BY TrackId LIMIT 1",
                        (rng.choice((1, 5, 8)),))
        cur.execute("COMMIT")
        return op


def _pg_rows(url: str, schema: str, table: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE lower(table_name) = lower(%s) AND table_schema = %s", (table, schema))
            (found_schema, found), = cur.fetchall()
            cur.execute(f'SELECT * FROM "{found_schema}"."{found}" ORDER BY 1, 2')
            return cur.fetchall()
    finally:
        conn.close()


def test_chinook_moves_with_writes_during_the_load_every_row_equal(dms, mariadb_db, dst):
    _load(mariadb_db)
    assert {t: query(mariadb_db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES} == TABLES
    dms.task("chinook", mariadb_db, dst, "full-load-and-cdc")
    dms.start_worker()
    writer = StoreWriter(mariadb_db)
    writer.start()
    time.sleep(0.3)
    dms.dms("task", "start", "chinook")
    wait_for(lambda: dms.describe("chinook")["Phase"] != "full-load", 180, "the full load to end")
    time.sleep(1)
    counts = writer.stop()
    assert all(n > 2 for n in counts.values()), counts
    dms.wait_live("chinook")
    proc = None

    def identical() -> bool:
        nonlocal proc
        proc = dms.dms("task", "validate", "chinook", check=False)
        return proc.returncode == 0 and "source and target are identical" in proc.stdout

    wait_for(identical, 120, "`dms task validate` to find every Chinook table identical")

    # Directly, table by table: MariaDB's values beside PostgreSQL's, as the drivers give them.
    schema = mariadb_db.rsplit("/", 1)[1]
    for table in TABLES:
        source = query(mariadb_db, f"SELECT * FROM {table} ORDER BY 1, 2")
        assert _pg_rows(dst, schema, table) == source, table
    (total,), = query(mariadb_db, "SELECT SUM(Total) FROM Invoice WHERE InvoiceId <= 412")
    assert total == Decimal("2328.60")  # Chinook's own sales, untouched by the writer
    assert dms.describe("chinook")["Status"] == "running"
