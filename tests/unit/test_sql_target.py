"""The shared SQL target (connectors/sql/): engines share it without copying it, and SQLite (no server)
shows what it keeps: checkpoints, exceptions as DMS writes them, the policies' outcomes."""

from __future__ import annotations

import ast
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import Change, Column, Endpoint, OnConflict, Op, Position, TableId, TableSchema
from connectors.errors import ApplyConflict, ObjectError
from connectors.sql.target import CHECKPOINTS, EXCEPTIONS, SqlTarget
from connectors.sqlite.target import SqliteTarget

REPO = Path(__file__).resolve().parents[2]
T = TableSchema(TableId("public", "t"), (Column("id", "int8", False), Column("v", "text"), Column("n", "numeric")),
                ("id",), engine="sqlite")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(("." * node.level) + node.module)
    return found


def test_the_shared_target_knows_no_engine_and_engines_share_it() -> None:
    shared = {m for p in (REPO / "connectors/sql").glob("*.py") for m in _imports(p)}
    assert not {m for m in shared if m.split(".")[0] in ("psycopg2", "sqlite3", "pymysql")
                or m.startswith(("connectors.postgres", "connectors.sqlite"))}
    for engine in ("postgres", "sqlite"):
        text = (REPO / f"connectors/{engine}/target.py").read_text()
        # the control tables and the apply loop live in connectors/sql only
        assert CHECKPOINTS not in text and EXCEPTIONS not in text and "def apply(" not in text
    assert issubclass(SqliteTarget, SqlTarget)


def _target(tmp_path: Path) -> SqliteTarget:
    target = SqliteTarget(Endpoint("dst", "target", "sqlite", database=str(tmp_path / "t.db")))
    target.prepare(T, "drop")
    return target


def _ch(op: Op, n: int, before: dict | None = None, after: dict | None = None) -> Change:
    return Change(T.table, op, Position("l", n, 1), before=before, after=after)


def test_checkpoint_commits_with_the_batch_and_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.apply("t1", {T: [_ch(Op.INSERT, 1, after={"id": 1, "v": "a", "n": Decimal("1.5")})]})
    assert target.applied("t1") == {T.table: Position("l", 1, 1)}
    fail = {Op.INSERT: OnConflict.FAIL}
    with pytest.raises(ApplyConflict):
        target.apply("t1", {T: [_ch(Op.INSERT, 2, after={"id": 2, "v": "b", "n": None}),
                                _ch(Op.INSERT, 3, after={"id": 1, "v": "again", "n": None})]}, fail)
    assert target.applied("t1") == {T.table: Position("l", 1, 1)}
    rows = [r for batch in target.read(T) for r in batch]
    assert rows == [{"id": 1, "v": "a", "n": Decimal("1.5")}]
    assert target.forget("t1") == [] and target.applied("t1") == {}
    target.close()


def test_skipped_conflicts_come_back_and_the_rest_applies(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.apply("t1", {T: [_ch(Op.INSERT, 1, after={"id": 1, "v": "a", "n": None})]})
    skip = {Op.INSERT: OnConflict.SKIP, Op.UPDATE: OnConflict.SKIP, Op.DELETE: OnConflict.SKIP}
    batch = {T: [_ch(Op.INSERT, 2, after={"id": 1, "v": "dup", "n": None}),
                 _ch(Op.UPDATE, 3, before={"id": 9}, after={"id": 9, "v": "x", "n": None}),
                 _ch(Op.DELETE, 4, before={"id": 8}),
                 _ch(Op.UPDATE, 5, before={"id": 1}, after={"id": 1, "v": "b", "n": None})]}
    conflicts = target.apply("t1", target.plan(batch, skip), skip)
    assert [c.change.position.major for c in conflicts] == [2, 3, 4]
    assert [r for b in target.read(T) for r in b] == [{"id": 1, "v": "b", "n": None}]
    target.close()


def test_an_exception_is_kept_as_the_sql_that_failed(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.record_exception("t1", T, _ch(Op.INSERT, 1, after={"id": 1, "v": "it's", "n": Decimal("2.5")}), "dup")
    target.record_exception("t1", T, _ch(Op.DELETE, 2, before={"id": 7}), "missing")
    target.close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        got = conn.execute(f'SELECT "TASK_NAME", "TABLE_OWNER", "TABLE_NAME", "STATEMENT", "ERROR", '
                           f'"ERROR_TIME" IS NOT NULL FROM {EXCEPTIONS}').fetchall()
    assert got == [("t1", "public", "t", '''INSERT INTO "t" ("id", "v", "n") VALUES (1, 'it''s', 2.5)''', "dup", 1),
                   ("t1", "public", "t", 'DELETE FROM "t" WHERE "id" = 7', "missing", 1)]


def test_a_keyless_table_fails_as_a_table(tmp_path: Path) -> None:
    target = _target(tmp_path)
    keyless = TableSchema(TableId("public", "k"), T.columns, (), full_row=True)
    target.prepare(keyless, "drop")
    with pytest.raises(ObjectError, match="has no key"):
        target.apply("t1", {keyless: [Change(keyless.table, Op.DELETE, Position("l", 1, 1), before={"id": 1})]})
    assert target.applied("t1") == {}
    target.close()
