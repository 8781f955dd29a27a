"""`dms task cutover`: drained, stopped at a known position, sequences carried over, the rest listed."""

from __future__ import annotations

import pytest
from dms_env import converged, execute, rows, wait_for

pytestmark = pytest.mark.integration


def test_cutover_carries_sequences_so_the_application_goes_on_on_the_target(dms, src, dst):
    execute(src, "CREATE TABLE orders (id bigserial PRIMARY KEY, t text)",
            "CREATE TABLE items (n int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, t text)",
            "INSERT INTO orders (t) SELECT 'o' || g FROM generate_series(1, 100) g",
            "INSERT INTO items (t) SELECT 'i' || g FROM generate_series(1, 7) g")
    dms.start_live("cut", src, dst)
    execute(src, "INSERT INTO orders (t) SELECT 'late' || g FROM generate_series(1, 5) g")
    wait_for(lambda: converged(src, dst, "orders"), 60, "the late orders on the target")
    out = dms.dms("task", "cutover", "cut", "--attach-sequences").stdout
    assert "stopped at source position" in out and "foreign keys, secondary (non-unique) indexes" in out
    assert "public.orders.id: sequence public.orders_id_seq set to 105 (the column's default now)" in out, out
    assert "public.items.n: sequence public.items_n_seq set to 7" in out, out
    assert dms.describe("cut")["Status"] == "stopped"
    # the application, moved to the target, inserts without naming keys: no collision
    execute(dst, "INSERT INTO orders (t) VALUES ('after cutover')", "INSERT INTO items (n, t) VALUES "
            "(nextval('public.items_n_seq'), 'after cutover')")
    assert rows(dst, "orders WHERE t = 'after cutover'", "id")[0][0] == 106
    assert rows(dst, "items WHERE t = 'after cutover'", "n")[0][0] == 8


def test_cutover_copies_the_schema_objects_dms_leaves_behind(dms, src, dst):
    execute(src, "CREATE TABLE parents (id int PRIMARY KEY, name text NOT NULL DEFAULT 'unnamed')",
            "CREATE TABLE kids (id int PRIMARY KEY, parent int REFERENCES parents (id), made date DEFAULT now())",
            "CREATE INDEX kids_parent ON kids (parent)",
            "CREATE VIEW family AS SELECT p.name, count(k.id) AS kids FROM parents p "
            "LEFT JOIN kids k ON k.parent = p.id GROUP BY p.name",
            "INSERT INTO parents VALUES (1, 'ann'), (2, 'bob')", "INSERT INTO kids VALUES (10, 1, '2020-01-01')")
    dms.task("cut2", src, dst, "full-load")
    dms.start_worker()
    dms.dms("task", "start", "cut2")
    dms.wait_status("cut2", "stopped")
    out = dms.dms("task", "cutover", "cut2", "--schema-objects").stdout
    for made in ("foreign key kids_parent_fkey of public.kids: created", "index kids_parent of public.kids: created",
                 "default name of public.parents: created", "default made of public.kids: created",
                 "view family of public.family: created"):
        assert made in out, out
    assert rows(dst, "family", "name") == [("ann", 1), ("bob", 0)]
    execute(dst, "INSERT INTO parents (id) VALUES (3)")
    assert rows(dst, "parents WHERE id = 3")[0][1] == "unnamed"
    with pytest.raises(Exception, match="foreign key"):
        execute(dst, "INSERT INTO kids (id, parent) VALUES (11, 99)")
