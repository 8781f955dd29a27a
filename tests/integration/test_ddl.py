"""Schema changes during CDC follow the source (ChangeProcessingDdlHandlingPolicy), on real PostgreSQL servers:
the source's event trigger puts each DDL in the change stream, the worker applies it in order with the rows."""

from __future__ import annotations

import pytest
from ddl_env import columns, exists, no_errors, rename_and_remove_rules
from dms_env import Writer, converged, execute, table_text, wait_for
from services import fresh_db

pytestmark = pytest.mark.integration


def same(src: str, dst: str, *tables: str) -> bool:
    return all(exists(dst, t) and columns(src, t) == columns(dst, t) for t in tables) and converged(src, dst, *tables)


def test_columns_follow_the_source_with_writes_running(dms, pg, pg_target):
    """ADD COLUMN ... DEFAULT and a widening ALTER COLUMN TYPE while a writer runs; RENAME and DROP COLUMN with
    rows written around them in the same transactions: the target ends equal, columns and rows."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE w (id int PRIMARY KEY, i int, t text, n float8)",
            "INSERT INTO w SELECT g, g % 10, 'row ' || g, g / 3.0 FROM generate_series(1, 200) g",
            "CREATE TABLE shape (id int PRIMARY KEY, a text, b varchar(5), gone int)",
            "INSERT INTO shape VALUES (1, 'one', 'x', 1)")
    dms.start_live("ddl-cols", src, dst)
    writer = Writer(src, "w", 1000)
    writer.start()
    try:
        wait_for(lambda: writer.counts["insert"] > 20, 30, "writes before the change")
        execute(src, "ALTER TABLE w ADD COLUMN extra int DEFAULT 7")
        wait_for(lambda: writer.counts["insert"] > 60, 30, "writes after the first change")
        execute(src, "ALTER TABLE w ALTER COLUMN i TYPE bigint")
        execute(src, "BEGIN; INSERT INTO shape VALUES (2, 'two', 'y', 2); ALTER TABLE shape RENAME COLUMN a TO label; "
                     "INSERT INTO shape VALUES (3, 'three', 'z', 3); COMMIT",
                "BEGIN; UPDATE shape SET gone = 20 WHERE id = 2; ALTER TABLE shape DROP COLUMN gone; "
                "INSERT INTO shape VALUES (4, 'four', 'w'); COMMIT",
                "ALTER TABLE shape ALTER COLUMN b TYPE varchar(50)",
                "INSERT INTO shape VALUES (5, 'five', 'a longer value than five')")
        wait_for(lambda: writer.counts["insert"] > 100, 30, "writes after the last change")
    finally:
        writer.stop()
    wait_for(lambda: same(src, dst, "w", "shape"), 60, "target to equal the source")
    assert columns(dst, "w")[-1] == ("extra", "integer") and columns(dst, "w")[1] == ("i", "bigint")
    assert [c for c, _ in columns(dst, "shape")] == ["id", "label", "b"]
    stats = dms.stats("ddl-cols")
    assert stats["public.w"]["Ddls"] == 2 and stats["public.shape"]["Ddls"] == 3
    no_errors(dms, "ddl-cols")
    # validation compares the tables as they are now: the new, renamed and widened columns
    assert "source and target are identical (2 tables)" in dms.dms("task", "validate", "ddl-cols").stdout


def test_tables_created_renamed_dropped_and_truncated_follow_the_source(dms, pg, pg_target):
    """Default policies: a new table the rules select arrives with its rows (no full load), a renamed one is
    renamed, a dropped one dropped, a truncated one emptied; one the rules exclude is left alone."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE old_name (id int PRIMARY KEY, v text)", "INSERT INTO old_name VALUES (1, 'a')",
            "CREATE TABLE doomed (id int PRIMARY KEY)", "INSERT INTO doomed VALUES (1)",
            "CREATE TABLE emptied (id int PRIMARY KEY)", "INSERT INTO emptied VALUES (1), (2)")
    mappings = {"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": "public", "table-name": "%"}},
        {"rule-type": "selection", "rule-id": "2", "rule-name": "2", "rule-action": "exclude",
         "object-locator": {"schema-name": "public", "table-name": "skip%"}}]}
    dms.start_live("ddl-tables", src, dst, mappings=mappings)
    execute(src, "BEGIN; CREATE TABLE fresh (id int PRIMARY KEY, v text); INSERT INTO fresh VALUES (1, 'same txn'); "
                 "COMMIT", "INSERT INTO fresh SELECT g, 'after ' || g FROM generate_series(2, 50) g",
            "CREATE TABLE skipped (id int PRIMARY KEY)", "INSERT INTO skipped VALUES (1)",
            "INSERT INTO old_name VALUES (2, 'before')", "ALTER TABLE old_name RENAME TO new_name",
            "INSERT INTO new_name VALUES (3, 'after')", "UPDATE new_name SET v = 'changed' WHERE id = 1",
            "INSERT INTO doomed VALUES (2)", "DROP TABLE doomed",
            "TRUNCATE emptied", "INSERT INTO emptied VALUES (3)")
    wait_for(lambda: same(src, dst, "fresh", "new_name", "emptied") and not exists(dst, "doomed"), 60,
             "target to follow the source's tables")
    assert not exists(dst, "old_name") and not exists(dst, "skipped")
    states = dms.table_states("ddl-tables")
    assert states.get("public.fresh") == "live" and states.get("public.new_name") == "live"
    assert "public.doomed" not in states and "public.old_name" not in states
    no_errors(dms, "ddl-tables")
    execute(src, "INSERT INTO fresh VALUES (51, 'later')")  # the new table stays replicated
    wait_for(lambda: converged(src, dst, "fresh"), 30, "a later row of the new table")


def test_policies_off_leave_the_target_as_it_is(dms, pg, pg_target):
    """HandleSourceTableAltered, HandleSourceTableDropped and HandleSourceTableTruncated false."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE kept (id int PRIMARY KEY, v text, n int)", "INSERT INTO kept VALUES (1, 'a', 1)",
            "CREATE TABLE dropped (id int PRIMARY KEY)", "INSERT INTO dropped VALUES (1)",
            "CREATE TABLE truncated (id int PRIMARY KEY)", "INSERT INTO truncated VALUES (1)")
    policy = {"HandleSourceTableAltered": False, "HandleSourceTableDropped": False,
              "HandleSourceTableTruncated": False}
    dms.start_live("ddl-off", src, dst, settings={"ChangeProcessingDdlHandlingPolicy": policy})
    execute(src, "ALTER TABLE kept ADD COLUMN extra text DEFAULT 'x'", "ALTER TABLE kept DROP COLUMN n",
            "INSERT INTO kept VALUES (2, 'b')", "UPDATE kept SET v = 'a2' WHERE id = 1",
            "DROP TABLE dropped", "TRUNCATE truncated", "INSERT INTO truncated VALUES (2)")
    wait_for(lambda: table_text(dst, "truncated") == ["(1)", "(2)"], 30, "rows after the truncate")
    # the dropped column stays on the target, written NULL by the changes after the drop
    wait_for(lambda: table_text(dst, "kept") == ["(1,a2,)", "(2,b,)"], 30, "rows into the unchanged table")
    assert [c for c, _ in columns(dst, "kept")] == ["id", "v", "n"]
    assert table_text(dst, "dropped") == ["(1)"]
    assert dms.stats("ddl-off")["public.kept"]["Ddls"] == 2
    no_errors(dms, "ddl-off")


def test_a_column_added_with_a_volatile_default_stops_only_its_table(dms, pg, pg_target):
    """clock_timestamp() fills the rows already there by a table rewrite, which logical decoding does not carry: the
    table stops naming the statement and the reload, rather than keep NULLs there."""
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE stamped (id int PRIMARY KEY, v text)", "INSERT INTO stamped VALUES (1, 'a')",
            "CREATE TABLE plain (id int PRIMARY KEY, v text)", "INSERT INTO plain VALUES (1, 'a')")
    dms.start_live("ddl-volatile", src, dst)
    execute(src, "ALTER TABLE stamped ADD COLUMN at timestamptz DEFAULT clock_timestamp()",
            "ALTER TABLE plain ADD COLUMN n int DEFAULT 3", "INSERT INTO plain VALUES (2, 'b', 4)")
    stats = wait_for(lambda: (s := dms.stats("ddl-volatile"))["public.stamped"]["TableState"] == "Table error" and s,
                     30, "the table with the volatile default to stop")
    error = stats["public.stamped"]["TableError"]
    assert "ADD COLUMN at timestamptz DEFAULT clock_timestamp()" in error and "reload-target" in error, error
    wait_for(lambda: table_text(dst, "plain") == ["(1,a,3)", "(2,b,4)"], 30, "the other table to go on")
    assert stats["public.plain"]["TableState"] != "Table error"


def test_changes_go_through_the_rules_that_rename_and_remove_columns(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE mapped (id int PRIMARY KEY, t text, secret text, n int)",
            "INSERT INTO mapped VALUES (1, 'a', 's', 1)")
    mappings = rename_and_remove_rules("public")
    dms.start_live("ddl-rules", src, dst, mappings=mappings)
    execute(src, "ALTER TABLE mapped ADD COLUMN extra int DEFAULT 5", "INSERT INTO mapped VALUES (2, 'b', 's2', 2, 6)",
            "ALTER TABLE mapped ALTER COLUMN secret TYPE varchar(100)", "ALTER TABLE mapped DROP COLUMN n",
            "UPDATE mapped SET t = 'a2', secret = 'hidden' WHERE id = 1", "INSERT INTO mapped VALUES (3, 'c', 's3', 7)")
    want = ["(1,a2,5)", "(2,b,6)", "(3,c,7)"]
    wait_for(lambda: table_text(dst, "mapped") == want, 30, "the mapped table to follow")
    assert [c for c, _ in columns(dst, "mapped")] == ["id", "title", "extra"]
    no_errors(dms, "ddl-rules")


def test_a_column_added_while_the_table_loads_stops_it_until_reloaded_as_it_is_now(dms, pg, pg_target):
    """The load waits on the target's table (held locked) while the source adds a column with a DEFAULT and
    writes to it: the table stops with a Table error naming the statement and the per-table reload, which
    then loads it with its new column; nothing is lost."""
    import psycopg2

    src, dst = fresh_db(pg), fresh_db(pg_target)
    execute(src, "CREATE TABLE held (id int PRIMARY KEY, v text)",
            "INSERT INTO held SELECT g, 'row ' || g FROM generate_series(1, 500) g")
    execute(dst, "CREATE TABLE held (id int PRIMARY KEY, v text)")
    blocker = psycopg2.connect(dst)
    blocker.cursor().execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
    try:
        dms.task("ddl-load", src, dst, "full-load-and-cdc")
        dms.start_worker()
        dms.dms("task", "start", "ddl-load")
        wait_for(lambda: dms.table_states("ddl-load").get("public.held") == "loading", 60, "the load to begin")
        execute(src, "ALTER TABLE held ADD COLUMN extra int DEFAULT 5", "INSERT INTO held VALUES (501, 'new', 6)",
                "UPDATE held SET extra = 7 WHERE id = 1")
        wait_for(lambda: dms.stats("ddl-load")["public.held"]["TableState"] == "Table error", 60, "the table to stop")
    finally:
        blocker.close()
    error = dms.stats("ddl-load")["public.held"]["TableError"]
    assert "ALTER TABLE held ADD COLUMN extra int DEFAULT 5" in error and "cannot be replicated" in error
    assert "dms task reload-tables ddl-load --table public.held" in error
    dms.dms("task", "reload-tables", "ddl-load", "--table", "public.held")
    execute(src, "INSERT INTO held VALUES (502, 'after the reload', 8)")
    wait_for(lambda: same(src, dst, "held"), 90, "the reloaded table to equal the source")
    assert columns(dst, "held")[-1] == ("extra", "integer")
    no_errors(dms, "ddl-load")
