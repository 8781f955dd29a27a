"""Schema changes on a MariaDB source follow it during CDC (ChangeProcessingDdlHandlingPolicy): the binlog's DDL
query events arrive in order with the rows (connectors/mysql/ddl.py), the worker applies them on PostgreSQL."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import dms_env
import pytest
from ddl_env import columns, exists, no_errors, rename_and_remove_rules
from dms_env import connect, wait_for
from servers_mariadb import connect_url, execute, query

pytestmark = pytest.mark.integration


def _db(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _source_columns(src: str, table: str) -> list[str]:
    return [r[0] for r in query(src, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                                     "DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (table,))]


def _target_rows(dst: str, table: str) -> list[tuple] | None:
    conn = connect(dst)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            return [tuple(r) for r in cur.fetchall()]
    except Exception:  # not there (yet)
        return None
    finally:
        conn.close()


def differing(src: str, dst: str, *tables: str) -> list[str]:
    """The tables not the same on both sides: their columns' names, or their rows by value."""
    schema = f'"{_db(src)}"'
    found = []
    for table in tables:
        there = f"{schema}.{table}"
        if not exists(dst, there) or [c for c, _ in columns(dst, there)] != _source_columns(src, table) or \
                _target_rows(dst, there) != [tuple(r) for r in query(src, f"SELECT * FROM {table} ORDER BY 1")]:
            found.append(table)
    return found


def same(src: str, dst: str, *tables: str) -> bool:
    return not differing(src, dst, *tables)


class Writer(dms_env.Writer):
    """Inserts, updates and deletes on ``table``'s (id, i) until stopped, while the table's other columns change."""

    def __init__(self, url: str, table: str) -> None:
        super().__init__(url, table, 1000, 0.003)

    def run(self) -> None:
        conn = connect_url(self.url)
        try:
            with conn.cursor() as cur:
                while not self.stop_event.is_set():
                    self.next_id += 1
                    cur.execute(f"INSERT INTO {self.table} (id, i) VALUES (%s, %s)", (self.next_id, self.next_id % 10))
                    cur.execute(f"UPDATE {self.table} SET i = i + 1 WHERE id = %s", (self.next_id - 5,))
                    if self.next_id % 3 == 0:
                        cur.execute(f"DELETE FROM {self.table} WHERE id = %s", (self.next_id - self.next_id % 97,))
                    self.counts["insert"] += 1
                    time.sleep(self.pace)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            conn.close()


def test_columns_and_tables_follow_the_source_with_writes_running(dms, mariadb_db, dst):
    """ADD COLUMN ... DEFAULT, widening MODIFY, RENAME/CHANGE COLUMN and DROP COLUMN while a writer runs; a new
    table with rows right after its creation, a renamed, a dropped and a truncated table: the target ends equal."""
    src = mariadb_db
    execute(src, "CREATE TABLE w (id int PRIMARY KEY, i int, t varchar(20))",
            "INSERT INTO w SELECT seq, seq % 10, CONCAT('row ', seq) FROM seq_1_to_200",
            "CREATE TABLE shape (id int PRIMARY KEY, a varchar(10), b varchar(5), gone int)",
            "INSERT INTO shape VALUES (1, 'one', 'x', 1)",
            "CREATE TABLE old_name (id int PRIMARY KEY, v varchar(10))", "INSERT INTO old_name VALUES (1, 'a')",
            "CREATE TABLE doomed (id int PRIMARY KEY)", "INSERT INTO doomed VALUES (1)",
            "CREATE TABLE emptied (id int PRIMARY KEY)", "INSERT INTO emptied VALUES (1), (2)")
    dms.start_live("mddl", src, dst)
    writer = Writer(src, "w")
    writer.start()
    try:
        wait_for(lambda: writer.counts["insert"] > 20, 30, "writes before the change")
        execute(src, "ALTER TABLE w ADD COLUMN extra int DEFAULT 7, ADD COLUMN note varchar(10) NOT NULL DEFAULT 'n'")
        wait_for(lambda: writer.counts["insert"] > 50, 30, "writes after the first change")
        execute(src, "ALTER TABLE w MODIFY i bigint",
                "INSERT INTO shape VALUES (2, 'two', 'y', 2)", "ALTER TABLE shape RENAME COLUMN a TO label",
                "INSERT INTO shape VALUES (3, 'three', 'z', 3)", "UPDATE shape SET gone = 20 WHERE id = 2",
                "ALTER TABLE shape DROP COLUMN gone", "INSERT INTO shape VALUES (4, 'four', 'w')",
                "ALTER TABLE shape CHANGE b bee varchar(50)", "INSERT INTO shape VALUES (5, 'five', 'a longer value')",
                "ALTER TABLE w CHANGE t title varchar(20)")
        execute(src, "CREATE TABLE fresh (id int PRIMARY KEY, v varchar(20))", "INSERT INTO fresh VALUES (1, 'first')",
                "INSERT INTO fresh SELECT seq, CONCAT('after ', seq) FROM seq_2_to_50",
                "ALTER TABLE fresh ADD COLUMN late int DEFAULT 3", "INSERT INTO fresh VALUES (51, 'later', 4)",
                "INSERT INTO old_name VALUES (2, 'before')", "RENAME TABLE old_name TO new_name",
                "INSERT INTO new_name VALUES (3, 'after')", "UPDATE new_name SET v = 'changed' WHERE id = 1",
                "INSERT INTO doomed VALUES (2)", "DROP TABLE doomed",
                "TRUNCATE emptied", "INSERT INTO emptied VALUES (3)")
        wait_for(lambda: writer.counts["insert"] > 100, 30, "writes after the last change")
    finally:
        writes = writer.stop()
    assert writes["insert"] > 100
    schema = f'"{_db(src)}"'
    tables = ("w", "shape", "fresh", "new_name", "emptied")
    try:
        wait_for(lambda: same(src, dst, *tables), 60, "target to equal the source")
    except AssertionError as exc:  # once in CI, under load: say which table and why, for the next time
        raise AssertionError(f"{exc}: {differing(src, dst, *tables)} differ; table states {dms.table_states('mddl')}; "
                             f"{dms.describe('mddl').get('LastFailureMessage')}\n{dms.worker_log()[-8000:]}") from None
    assert not exists(dst, f"{schema}.doomed") and not exists(dst, f"{schema}.old_name")
    assert columns(dst, f"{schema}.w") == [("id", "integer"), ("i", "bigint"), ("title", "character varying(20)"),
                                          ("extra", "integer"), ("note", "character varying(10)")]
    assert columns(dst, f"{schema}.shape")[-1] == ("bee", "character varying(50)")
    assert _target_rows(dst, f"{schema}.w")[0][3:] == (7, "n")  # a row from before the ADD COLUMN: its DEFAULT
    stats = dms.stats("mddl")
    assert (stats[f"{_db(src)}.w"]["Ddls"], stats[f"{_db(src)}.shape"]["Ddls"]) == (3, 3), dms.worker_log()
    states = dms.table_states("mddl")
    assert states.get(f"{_db(src)}.fresh") == "live" and f"{_db(src)}.doomed" not in states
    no_errors(dms, "mddl")
    # validation compares the tables as they are now: created, renamed, new and renamed columns
    assert "source and target are identical" in dms.dms("task", "validate", "mddl").stdout


def test_changes_go_through_rules_that_rename_and_remove_columns(dms, mariadb_db, dst):
    src, db = mariadb_db, _db(mariadb_db)
    execute(src, "CREATE TABLE mapped (id int PRIMARY KEY, t varchar(10), secret varchar(10), n int)",
            "INSERT INTO mapped VALUES (1, 'a', 's', 1)")
    mappings = rename_and_remove_rules(db)
    dms.start_live("mddl-rules", src, dst, mappings=mappings)
    execute(src, "INSERT INTO mapped VALUES (2, 'b', 's2', 2)", "ALTER TABLE mapped ADD COLUMN extra int DEFAULT 5",
            "INSERT INTO mapped VALUES (5, 'e', 's5', 5, 9)")
    # Read before the next ALTERs: a reader seconds behind (CI's busy shared binlog) would meet the ADD COLUMN with
    # the table changed again after rows in between, whose columns it refuses to guess (the table fails, saying to
    # reload it): what this test checks is the rules, not that limit
    wait_for(lambda: any(row[0] == 5 for row in _target_rows(dst, f'"{db}".mapped') or []), 60, "row 5 on the target")
    execute(src, "ALTER TABLE mapped MODIFY secret varchar(100)", "ALTER TABLE mapped DROP COLUMN n",
            "ALTER TABLE mapped RENAME COLUMN extra TO more",
            "UPDATE mapped SET t = 'a2', secret = 'hidden' WHERE id = 1", "INSERT INTO mapped VALUES (3, 'c', 's3', 7)")
    table = f'"{db}".mapped'
    # row 2 keeps the DEFAULT the ADD COLUMN gave it: no change of the binlog carries it
    want = [(1, "a2", 5), (2, "b", 5), (3, "c", 7), (5, "e", 9)]
    try:
        wait_for(lambda: _target_rows(dst, table) == want, 30, "the mapped table to follow")
    except AssertionError as exc:  # once in CI, under load: say what the target holds and why, for the next time
        raise AssertionError(f"{exc}: target holds {_target_rows(dst, table)}, columns {columns(dst, table)}; table "
                             f"states {dms.table_states('mddl-rules')}; "
                             f"{dms.describe('mddl-rules').get('LastFailureMessage')}\n{dms.worker_log()[-8000:]}"
                             ) from None
    assert [c for c, _ in columns(dst, table)] == ["id", "title", "more"]
    no_errors(dms, "mddl-rules")


def test_policies_off_and_a_statement_that_cannot_be_replicated(dms, mariadb_db, dst):
    """HandleSourceTableAltered, -Dropped and -Truncated false leave the target as it is; an ADD COLUMN whose
    DEFAULT the binlog does not hold stops that table alone, naming the statement."""
    src, db = mariadb_db, _db(mariadb_db)
    execute(src, "CREATE TABLE kept (id int PRIMARY KEY, v varchar(10), n int)", "INSERT INTO kept VALUES (1, 'a', 1)",
            "CREATE TABLE dropped (id int PRIMARY KEY)", "INSERT INTO dropped VALUES (1)",
            "CREATE TABLE truncated (id int PRIMARY KEY)", "INSERT INTO truncated VALUES (1)",
            "CREATE TABLE stamped (id int PRIMARY KEY)", "INSERT INTO stamped VALUES (1)")
    policy = {"HandleSourceTableAltered": False, "HandleSourceTableDropped": False,
              "HandleSourceTableTruncated": False}
    dms.start_live("mddl-off", src, dst, settings={"ChangeProcessingDdlHandlingPolicy": policy})
    execute(src, "ALTER TABLE kept ADD COLUMN extra varchar(5) DEFAULT 'x'", "ALTER TABLE kept DROP COLUMN n",
            "INSERT INTO kept VALUES (2, 'b', 'y')", "UPDATE kept SET v = 'a2' WHERE id = 1",
            "DROP TABLE dropped", "TRUNCATE truncated", "INSERT INTO truncated VALUES (2)",
            "ALTER TABLE stamped ADD COLUMN at datetime DEFAULT CURRENT_TIMESTAMP")
    wait_for(lambda: _target_rows(dst, f'"{db}".truncated') == [(1,), (2,)], 30, "rows after the truncate")
    wait_for(lambda: _target_rows(dst, f'"{db}".kept') == [(1, "a2", None), (2, "b", None)], 30,
             "rows into the unchanged table")
    assert _target_rows(dst, f'"{db}".dropped') == [(1,)]
    stats = wait_for(lambda: (s := dms.stats("mddl-off"))[f"{db}.stamped"]["TableState"] == "Table error" and s, 30,
                     "the table with the unreplicable statement to stop")
    error = stats[f"{db}.stamped"]["TableError"]
    assert "ADD COLUMN at datetime DEFAULT CURRENT_TIMESTAMP" in error and "reload-target" in error, error
    assert stats[f"{db}.kept"]["Ddls"] == 2 and stats[f"{db}.kept"]["TableState"] != "Table error"
