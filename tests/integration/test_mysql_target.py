"""The MySQL/MariaDB target's own rules on a real MariaDB: names (reserved words, 64 characters), where tables
land, the key after the load, a load the server would have cut, and awsdms_apply_exceptions."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest
from servers_mariadb import execute, query

from connectors.base import Batch, Change, Column, Endpoint, Op, Position, TableId, TableSchema
from connectors.errors import DataError, ObjectError
from connectors.registry import open_target

pytestmark = pytest.mark.integration


def _target(url: str, **extra: str):
    u = urlsplit(url)
    return open_target(Endpoint("my", "target", "mariadb", u.hostname, u.port, u.path.lstrip("/"), "dms", "dms",
                                extra=extra))


def _schema(name: str, *, schema: str = "public", key: tuple[str, ...] = ("select",)) -> TableSchema:
    cols = (Column("select", "int8", False, "bigint", "INT8"), Column("order", "text", True, "text", "NCLOB"),
            Column("when", "timestamptz", True, "timestamptz", "DATETIME(6)"))
    return TableSchema(TableId(schema, name), cols, key, "postgres")


ROWS = [{"select": 1, "order": "a\tb\\c\nd", "when": "2024-06-30 12:00:00+05:30"},
        {"select": 2, "order": None, "when": None}, {"select": 3, "order": "", "when": "2000-01-01 00:00:00+00"}]


def test_reserved_words_a_key_after_the_load_and_exceptions(mariadb_db) -> None:
    target = _target(mariadb_db)
    schema = _schema("group")
    try:
        target.prepare(schema, "drop", with_key=False)
        assert target.load(schema, [Batch(3, ROWS)]) == 3
        assert query(mariadb_db, "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'group'") == [(0,)]
        assert target.create_keys(schema) == []
        assert query(mariadb_db, "SELECT `select`, `order`, CAST(`when` AS CHAR) FROM `group` ORDER BY 1") == [
            (1, "a\tb\\c\nd", "2024-06-30 06:30:00.000000"), (2, None, None), (3, "", "2000-01-01 00:00:00.000000")]
        assert query(mariadb_db, "SELECT CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS WHERE "
                                 "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'group'") == [("PRIMARY KEY",)]
        change = Change(schema.table, Op.INSERT, Position("", 1, 1), after=ROWS[0])
        target.record_exception("t1", schema, change, "duplicate key")
        (task, owner, table, when, statement, error), = query(
            mariadb_db, "SELECT TASK_NAME, TABLE_OWNER, TABLE_NAME, ERROR_TIME, STATEMENT, ERROR "
                        "FROM awsdms_apply_exceptions")
        assert (task, owner, table, error) == ("t1", "public", "group", "duplicate key")
        assert statement == ("INSERT INTO `group` (`select`, `order`, `when`) VALUES "
                             "(1, 'a\tb\\\\c\\nd', '2024-06-30 12:00:00+05:30')")  # PyMySQL leaves a tab as it is
        assert when is not None
    finally:
        target.close()


def test_names_past_64_characters_fail_the_table_with_the_fix(mariadb_db) -> None:
    target = _target(mariadb_db)
    try:
        with pytest.raises(ObjectError, match="is 70 characters long; MySQL allows 64: add a rename"):
            target.prepare(_schema("t" * 70), "drop")
    finally:
        target.close()


def test_a_value_the_column_cannot_hold_fails_the_load_instead_of_being_cut(mariadb_db) -> None:
    execute(mariadb_db, "CREATE TABLE narrow (`select` bigint PRIMARY KEY, `order` varchar(3), `when` datetime(6))")
    target = _target(mariadb_db)
    schema = _schema("narrow")
    try:
        target.prepare(schema, "keep")
        with pytest.raises(DataError, match="Data truncated for column 'order'.*reload the table"):
            target.load(schema, [Batch(3, ROWS)])
        assert query(mariadb_db, "SELECT COUNT(*) FROM narrow") == [(0,)]  # nothing of it stays
    finally:
        target.close()


def test_multiple_databases_puts_each_schema_in_its_database(mariadb_db) -> None:
    name = f"sales_{secrets.token_hex(3)}"
    target = _target(mariadb_db, targetDbType="MULTIPLE_DATABASES")
    schema = _schema("orders", schema=name)
    try:
        target.prepare(schema, "drop")
        assert target.load(schema, [Batch(3, ROWS)]) == 3
        assert query(mariadb_db, f"SELECT COUNT(*) FROM `{name}`.orders") == [(3,)]
        assert [r["select"] for batch in target.read(schema) for r in batch] == [1, 2, 3]
    finally:
        target.close()
        execute(mariadb_db, f"DROP DATABASE IF EXISTS `{name}`")


def test_a_keyless_table_with_whole_old_rows_applies_one_row_per_change(mariadb_db) -> None:
    cols = (Column("a", "int4", True, "integer", "INT4"), Column("f", "float4", True, "real", "REAL4"),
            Column("t", "text", True, "text", "NCLOB"))
    schema = TableSchema(TableId("public", "log"), cols, (), "postgres", full_row=True)
    target = _target(mariadb_db)
    dup = {"a": 1, "f": 1.1, "t": "same"}

    def change(op: Op, n: int, before=None, after=None) -> Change:
        return Change(schema.table, op, Position("", n, 1), before=before, after=after)

    try:
        target.prepare(schema, "drop")
        target.load(schema, [Batch(3, [dup, dup, {"a": 2, "f": None, "t": None}])])
        target.apply("k", {schema: [change(Op.DELETE, 1, before=dup),  # one of the two equal rows
                                    change(Op.UPDATE, 2, before={"a": 2, "f": None, "t": None},
                                           after={"a": 2, "f": 2.5, "t": "now"}),
                                    change(Op.INSERT, 3, after={"a": 3, "f": None, "t": "new"})]})
        got = sorted(r for batch in target.read(schema) for r in map(lambda x: tuple(x.values()), batch))
        assert got == [(1, 1.1, "same"), (2, 2.5, "now"), (3, None, "new")]
    finally:
        target.close()


def test_a_server_refusing_local_files_is_loaded_by_inserts(mariadb_own_db) -> None:
    mariadb_db = mariadb_own_db  # a global setting changes: on this process's own server, not the shared one
    execute(mariadb_db, "SET GLOBAL local_infile = 0")  # MySQL 8's default
    try:
        target = _target(mariadb_db)
        schema = _schema("plain")
        try:
            target.prepare(schema, "drop")
            assert target.load(schema, [Batch(2, ROWS[:2]), Batch(1, ROWS[2:])]) == 3
            assert target._infile is False  # the INSERT path ran: LOAD DATA LOCAL would have been refused
            assert query(mariadb_db, "SELECT `select`, `order`, CAST(`when` AS CHAR) FROM plain ORDER BY 1") == [
                (1, "a\tb\\c\nd", "2024-06-30 06:30:00.000000"), (2, None, None), (3, "", "2000-01-01 00:00:00.000000")]
        finally:
            target.close()
    finally:
        execute(mariadb_db, "SET GLOBAL local_infile = 1")
