"""MariaDB -> PostgreSQL through the real `dms` CLI and real workers: a shop schema with foreign keys loaded while
an application writes to it (inserts, updates, key changes, deletes), its binlog replayed from each table's
snapshot on, then a stop and a resume from the acknowledged position; `dms task validate` compares the engines
by value, and MySQL's own types are checked on the PostgreSQL side."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from dms_env import LoopWriter, wait_for
from servers_mariadb import connect_url, execute

pytestmark = pytest.mark.integration

SCHEMA = (
    "CREATE TABLE customer (id int unsigned PRIMARY KEY, name varchar(80) NOT NULL, email varchar(120) UNIQUE, "
    "tier enum('basic','gold','platinum') NOT NULL, created datetime(6) NOT NULL)",
    "CREATE TABLE product (id int PRIMARY KEY, title varchar(200) NOT NULL, price decimal(10,2) NOT NULL, "
    "tags set('new','sale','eco'), spec json, photo blob)",
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int unsigned NOT NULL, placed timestamp(3) NULL, "
    "total decimal(65,30), paid bit(1), note text, FOREIGN KEY (customer_id) REFERENCES customer (id))",
    "CREATE TABLE order_item (order_id bigint NOT NULL, line smallint NOT NULL, product_id int NOT NULL, "
    "qty tinyint unsigned NOT NULL, PRIMARY KEY (order_id, line), "
    "FOREIGN KEY (order_id) REFERENCES orders (id) ON UPDATE CASCADE ON DELETE CASCADE, "
    "FOREIGN KEY (product_id) REFERENCES product (id))",
)
ROWS = (  # MariaDB's sequence tables (seq_1_to_N) make the rows
    "INSERT INTO customer SELECT seq, CONCAT('customer ', seq, IF(seq % 7 = 0, ' 😀', '')), "
    "CONCAT('c', seq, '@example.com'), ELT(1 + seq % 3, 'basic', 'gold', 'platinum'), "
    "TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq * 3607 SECOND + INTERVAL seq MICROSECOND FROM seq_1_to_2000",
    "INSERT INTO product SELECT seq, CONCAT('product ', seq), seq * 1.25, "
    "ELT(1 + seq % 4, NULL, 'new', 'sale,eco', ''), IF(seq % 5 = 0, JSON_OBJECT('w', seq, 'ok', true), NULL), "
    "IF(seq % 9 = 0, UNHEX(REPEAT('00FF', seq)), NULL) "
    "FROM seq_1_to_500",
    "INSERT INTO orders SELECT seq, 1 + seq % 2000, TIMESTAMP'2024-03-01 00:00:00' + INTERVAL seq MINUTE, "
    "seq / 7, seq % 2, IF(seq % 11 = 0, NULL, CONCAT('note ', seq)) FROM seq_1_to_3000",
    "INSERT INTO order_item SELECT o.seq, l.seq, 1 + (o.seq * l.seq) % 500, l.seq FROM seq_1_to_3000 o, seq_1_to_2 l",
)


class ShopWriter(LoopWriter):
    """An application writing to the shop while the task loads and replicates: one transaction per order."""

    def __init__(self, url: str) -> None:
        super().__init__(url, 15, 0.003, ("insert", "update", "rekey", "delete"))
        self.next_id = 10_000

    def open_connection(self) -> Any:
        return connect_url(self.url)

    def step(self, cur: Any) -> str:
        rng = self.rng
        op = rng.choice(("insert", "insert", "update", "rekey", "delete"))
        some = rng.randint(1, 3000)
        cur.execute("START TRANSACTION")
        if op == "insert":
            self.next_id += 1
            cur.execute("INSERT INTO orders VALUES (%s, %s, UTC_TIMESTAMP(3), %s, 1, 'during')",
                        (self.next_id, rng.randint(1, 2000), Decimal(self.next_id) / 3))
            cur.execute("INSERT INTO order_item VALUES (%s, 1, %s, 3)", (self.next_id, rng.randint(1, 500)))
        elif op == "update":
            cur.execute("UPDATE orders SET note = CONCAT(COALESCE(note, ''), ' ✓'), paid = NOT paid "
                        "WHERE id = (SELECT MIN(id) FROM orders WHERE id >= %s)", (some,))
            cur.execute("UPDATE customer SET tier = 'gold' WHERE id = %s", (some % 2000 + 1,))
        elif op == "rekey":  # a key of two columns changes
            cur.execute("UPDATE order_item SET line = line + 10 WHERE order_id = "
                        "(SELECT MIN(order_id) FROM order_item WHERE order_id >= %s) AND line < 10", (some,))
        else:  # items first: InnoDB's cascades are not in the binlog (see docs/engines/mysql-source.md)
            # orders below 10 stay: the test adds an item to order 5 after the stop (a foreign key needs it)
            cur.execute("SELECT MIN(id) FROM orders WHERE id >= %s", (max(some, 10),))
            (order,) = cur.fetchone()
            cur.execute("DELETE FROM order_item WHERE order_id = %s", (order,))
            cur.execute("DELETE FROM orders WHERE id = %s", (order,))
        cur.execute("COMMIT")
        return op


def _identical(dms, task: str) -> bool:
    proc = dms.dms("task", "validate", task, check=False)
    return proc.returncode == 0 and "source and target are identical" in proc.stdout


def test_a_shop_moves_with_writes_during_the_load_and_resumes_after_a_stop(dms, mariadb_db, dst):
    execute(mariadb_db, *SCHEMA, *ROWS)
    settings = {"FullLoadSettings": {"CommitRate": 1000}}
    dms.task("myshop", mariadb_db, dst, "full-load-and-cdc", settings=settings)
    dms.start_worker()
    writer = ShopWriter(mariadb_db)
    writer.start()
    time.sleep(0.3)
    dms.dms("task", "start", "myshop")
    wait_for(lambda: dms.describe("myshop")["Phase"] != "full-load", 180, "the full load to end")
    time.sleep(1)
    counts = writer.stop()
    assert counts["insert"] > 5 and counts["rekey"] > 2 and counts["delete"] > 2, counts
    execute(mariadb_db, "TRUNCATE TABLE order_item")  # a TRUNCATE in the binlog empties the target's table
    dms.wait_live("myshop")
    wait_for(lambda: _identical(dms, "myshop"), 90, "`dms task validate` to find the engines' tables identical")

    # stopped, changed, resumed: the stream goes on from the position the target acknowledged
    dms.dms("task", "stop", "myshop")
    wait_for(lambda: dms.describe("myshop")["Status"] == "stopped", 60, "the task to stop")
    execute(mariadb_db, "INSERT INTO order_item VALUES (5, 1, 7, 9)", "DELETE FROM product WHERE id = 500",
            "UPDATE product SET tags = 'new,eco', spec = JSON_ARRAY(1, 'x') WHERE id = 1")
    dms.dms("task", "start", "myshop", "--type", "resume-processing")
    wait_for(lambda: _identical(dms, "myshop"), 90, "the changes made while stopped to arrive")

    import psycopg2  # the target's side, by value

    schema = '"' + urlsplit(mariadb_db).path.lstrip("/") + '"'  # the database is the schema
    with psycopg2.connect(dst) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT tags, spec::text, price FROM {schema}.product WHERE id = 1")
        assert cur.fetchone() == ("new,eco", '[1, "x"]', Decimal("1.25"))
        cur.execute(f"SELECT name, tier, created::text FROM {schema}.customer WHERE id = 7")
        assert cur.fetchone() == ("customer 7 😀", "gold", "2024-01-01 07:00:49.000007")
        cur.execute(f"SELECT count(*) FROM {schema}.product")
        assert cur.fetchone() == (499,)
        cur.execute(f"SELECT count(*) FROM {schema}.order_item")
        assert cur.fetchone() == (1,)
    assert dms.describe("myshop")["Status"] == "running"
