"""SQLite as source and target, through the real `dms` CLI and workers: SQLite -> SQLite, SQLite -> PostgreSQL
and PostgreSQL -> SQLite full-load-and-cdc with writes during and after the load, and bad input."""

from __future__ import annotations

import datetime
import random
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dms_env import SQLITE, DmsEnv, Writer, connect, execute, wait_for

pytestmark = pytest.mark.integration

ROWS = 3_000
COLUMNS = ("id", "i", "t", "n", "f", "b", "by", "d", "ts", "v")
DDL = {
    "sqlite": "CREATE TABLE items (id INTEGER PRIMARY KEY, i INTEGER, t TEXT, n NUMERIC(12,4), f REAL, b BOOLEAN, "
              "by BLOB, d DATE, ts TIMESTAMP, v VARCHAR(20))",
    "postgres": "CREATE TABLE items (id bigint PRIMARY KEY, i integer, t text, n numeric(12,4), f double precision, "
                "b boolean, by bytea, d date, ts timestamp, v varchar(20))",
}


@dataclass
class Side:
    """One end of a migration: a SQLite file (sqlite:///PATH) or a PostgreSQL database, and its table's name."""

    url: str
    table: str

    @property
    def engine(self) -> str:
        return "sqlite" if self.url.startswith(SQLITE) else "postgres"

    def insert(self, rows: list[tuple]) -> None:
        conn = connect(self.url)
        mark = "?" if self.engine == "sqlite" else "%s"
        conn.cursor().executemany(f"INSERT INTO {self.table} VALUES ({', '.join([mark] * len(COLUMNS))})", rows)
        conn.close()

    def run(self, *statements: str) -> int:
        """Statements on the table; returns how many rows they changed."""
        conn = connect(self.url)
        cur = conn.cursor()
        changed = 0
        for sql in statements:
            cur.execute(sql)
            changed += cur.rowcount
        conn.close()
        return changed

    def rows(self) -> list[tuple]:
        """Every row in key order, each value in one form whichever engine holds it."""
        conn = connect(self.url)
        cur = conn.cursor()
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {self.table} ORDER BY id")
        result = [tuple(_plain(v) for v in row) for row in cur.fetchall()]
        conn.close()
        return result


def _plain(v: Any) -> Any:
    """SQLite keeps booleans as 0/1, NUMERIC as int or float and times as text; PostgreSQL has types."""
    if isinstance(v, (bool, int, Decimal)):
        return Decimal(int(v)) if isinstance(v, bool) else Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, memoryview):
        return bytes(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return str(v)
    return v


def _items(first: int, count: int, seed: int = 3) -> list[tuple]:
    rng = random.Random(seed)
    start = datetime.datetime(2024, 1, 1)
    return [
        (i, None if i % 7 == 0 else i % 1000, None if i % 13 == 0 else f"text {i} 'q' \t\n é",
         None if i % 11 == 0 else f"{rng.randint(0, 10**8) / 10**4:.4f}", None if i % 17 == 0 else rng.random() * 1e6,
         None if i % 3 == 0 else i % 2 == 0, None if i % 5 == 0 else rng.randbytes(16),
         None if i % 19 == 0 else str(datetime.date(2020, 1, 1) + datetime.timedelta(days=i % 2000)),
         None if i % 23 == 0 else str(start + datetime.timedelta(seconds=37 * i)), f"v{i}")
        for i in range(first, first + count)
    ]


def _side(engine: str, role: str, request: pytest.FixtureRequest, tmp_path: Path, source_engine: str) -> Side:
    if engine == "sqlite":
        return Side(f"{SQLITE}{tmp_path / f'{role}.db'}", "items")
    url = request.getfixturevalue("src" if role == "source" else "dst")
    # a SQLite source's tables are in its schema main; a SQLite target has no schemas
    return Side(url, "main.items" if role == "target" and source_engine == "sqlite" else "items")


def _start(dms: DmsEnv, task: str) -> None:
    """`dms task start` on a worker of the Redis mode (the embedded mode runs the task in the foreground)."""
    if not any(w.poll() is None for w in dms.workers):
        dms.start_worker()
    dms.dms("task", "start", task)


def _stop_and_delete(dms: DmsEnv, task: str) -> None:
    dms.dms("task", "stop", task)
    dms.wait_status(task, "stopped")
    dms.dms("task", "delete", task)


def replicate_with_changes(dms: DmsEnv, name: str, source: Side, target: Side) -> None:
    """The scenario: a table loaded while a writer changes it, more changes after the load, then every row compared
    and the task deleted. Each step is a dms command, so both the embedded and the Redis mode can run it."""
    execute(source.url, DDL[source.engine])
    source.insert(_items(1, ROWS))
    # small commits stretch the load, so that the writer's changes are cached while it runs
    dms.task(name, source.url, target.url, "full-load-and-cdc", settings={"FullLoadSettings": {"CommitRate": 100}})
    writer = Writer(source.url, "items", 100_000, pace=0.001)
    writer.start()
    _start(dms, name)
    dms.wait_live(name)
    made = writer.stop()
    assert made["insert"] > 10 and made["rekey"] > 5 and made["delete"] > 5, made
    # after the load, with key changes and a row deleted and inserted again under the same key
    updated = source.run("UPDATE items SET t = 'after the load', b = NULL WHERE id <= 40",
                         "UPDATE items SET id = -id WHERE id BETWEEN 41 AND 45")
    deleted = source.run("DELETE FROM items WHERE id BETWEEN 46 AND 56")
    source.insert(_items(200_000, 20) + [_items(56, 1, seed=9)[0]])
    wait_for(lambda: target.rows() == source.rows(), 60, "target to equal source")
    expected = source.rows()
    assert target.rows() == expected and len(expected) > ROWS - 100  # row for row, every value
    table = f"{'main' if source.engine == 'sqlite' else 'public'}.items"
    wait_for(lambda: dms.stats(name)[table]["Inserts"] >= 21, 20, "the changes to be counted")
    stats = dms.stats(name)[table]
    assert stats["TableState"] == "Table completed" and stats["FullLoadRows"] >= ROWS - made["delete"]
    assert stats["Updates"] >= updated > 40 and stats["Deletes"] >= deleted > 5, stats
    assert dms.json("task", "validate", name)["Equal"] is True
    _stop_and_delete(dms, name)
    if source.engine == "sqlite":
        with sqlite3.connect(source.url.removeprefix(SQLITE)) as db:
            left = db.execute("SELECT type, name FROM sqlite_master WHERE name LIKE 'awsdms%'").fetchall()
        assert left == []  # no trigger, no change log


PAIRS = [("sqlite", "sqlite"), ("sqlite", "postgres"), ("postgres", "sqlite")]


@pytest.mark.parametrize(("source_engine", "target_engine"), PAIRS, ids=[f"{s}-to-{t}" for s, t in PAIRS])
def test_full_load_and_cdc_with_writes_during_and_after_the_load(source_engine, target_engine, request, dms,
                                                                 tmp_path):
    source = _side(source_engine, "source", request, tmp_path, source_engine)
    target = _side(target_engine, "target", request, tmp_path, source_engine)
    replicate_with_changes(dms, f"lite-{source_engine[:2]}-{target_engine[:2]}-{dms.suffix}", source, target)


def _one_error_line(proc) -> str:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_bad_sqlite_endpoints_give_one_clear_line(dms, tmp_path):
    def endpoint_test(name: str, kind: str, path: Path) -> str:
        dms.endpoint(name, kind, f"{SQLITE}{path}")
        return _one_error_line(dms.dms("endpoint", "test", name, check=False))

    missing = tmp_path / "no-such.db"
    assert f"{missing} of source endpoint nofile does not exist" in endpoint_test("nofile", "source", missing)
    assert not missing.exists()  # testing a source never creates it
    (tmp_path / "text.db").write_text("not a database\n")
    assert "is not a SQLite database" in endpoint_test("notdb", "source", tmp_path / "text.db")

    readonly = tmp_path / "readonly.db"
    sqlite3.connect(readonly).close()
    readonly.chmod(0o444)
    assert f"{readonly} of target endpoint rofile is read-only" in endpoint_test("rofile", "target", readonly)
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert f"directory {folder} of target endpoint rodir is read-only" in endpoint_test(
            "rodir", "target", folder / "new.db")
    finally:
        folder.chmod(0o755)

    source = tmp_path / "keyless.db"
    execute(f"{SQLITE}{source}", "CREATE TABLE log (at TEXT, line TEXT)", "INSERT INTO log VALUES ('now', 'x')")
    dms.task("keyless", f"{SQLITE}{source}", f"{SQLITE}{tmp_path / 'out.db'}", "full-load-and-cdc")
    line = _one_error_line(dms.dms("task", "start", "keyless", check=False))
    assert "table(s) log of source" in line and "no primary key" in line


def test_delete_of_a_task_whose_source_is_gone_says_so_and_force_deletes_it(dms, tmp_path):
    source = tmp_path / "gone.db"
    execute(f"{SQLITE}{source}", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    dms.task("gone-src", f"{SQLITE}{source}", f"{SQLITE}{tmp_path / 'kept.db'}", "full-load-and-cdc")
    source.unlink()
    line = _one_error_line(dms.dms("task", "delete", "gone-src", check=False))
    assert str(source) in line and "dms task delete gone-src --force" in line
    assert "gone-src" in dms.dms("task", "list").stdout  # nothing deleted
    forced = dms.dms("task", "delete", "gone-src", "--force")
    assert "task gone-src deleted" in forced.stdout
    assert "warning: left behind: change log awsdms_changes_gone-src and triggers awsdms_gone-src:*" in forced.stderr
    assert 'DROP TABLE IF EXISTS "awsdms_changes_gone-src";' in forced.stderr
    assert "gone-src" not in dms.dms("task", "list").stdout


def test_dry_run_shows_each_columns_source_dms_and_target_type_and_what_is_lossy(dms, src, tmp_path):
    """PostgreSQL -> SQLite by the engines' type tables (connectors/<engine>/types.py)."""
    execute(src, "CREATE TABLE typed (id bigint PRIMARY KEY, v varchar(20) NOT NULL, m numeric(12,4), "
                 "w numeric(38,10), j jsonb, u uuid, f double precision, z timestamptz(3), e int4range)")
    dms.task("typed", src, f"{SQLITE}{tmp_path / 'typed.db'}", "full-load")
    plan = dms.dms("task", "create", "typed-plan", "--source", f"src-{dms.suffix}-typed", "--target",
                   f"dst-{dms.suffix}-typed", "--instance", dms.instance, "--migration-type", "full-load",
                   "--table-mappings", str(dms.tmp / "typed-mappings.json"), "--dry-run").stdout
    lines = {line.split()[0]: " ".join(line.split()[1:]) for line in plan.splitlines() if line.startswith("    ")}
    assert lines["id"] == "bigint -> INT8 -> BIGINT NOT NULL"
    assert lines["v"] == "character varying(20) -> WSTRING(20) -> VARCHAR(20) NOT NULL"
    assert lines["m"] == "numeric(12,4) -> NUMERIC(12,4) -> NUMERIC(12,4)"
    assert lines["w"].startswith("numeric(38,10) -> NUMERIC(38,10) -> NUMERIC(38,10) (lossy: SQLite keeps NUMERIC")
    assert lines["j"] == "jsonb -> NCLOB -> JSON" and lines["u"] == "uuid -> STRING(36) -> UUID"
    assert lines["f"].startswith("double precision -> REAL8 -> REAL (lossy: SQLite has no NaN")
    assert lines["z"] == "timestamp(3) with time zone -> DATETIME(3) -> TIMESTAMPTZ"
    assert lines["e"] == "int4range -> STRING(255) -> TEXT"  # a type SQLite lacks travels as its text
