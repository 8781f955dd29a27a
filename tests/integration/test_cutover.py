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
