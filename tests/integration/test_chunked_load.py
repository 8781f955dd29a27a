"""Big tables load in key-range chunks, in binary COPY, by several jobs; a killed chunk loads again."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest
import redis
from dms_env import Writer, converged, execute, table_text, wait_for

from connectors.base import Endpoint, KeyRange, TableRule
from connectors.postgres.copyout import COPY_BINARY
from connectors.postgres.source import PostgresSource
from connectors.postgres.target import PostgresTarget
from worker.state import StateStore

pytestmark = pytest.mark.integration

# Every built-in type whose binary form moves as-is between two databases (no arrays, no enums).
WIDE = """CREATE TABLE wide (id bigint PRIMARY KEY, i integer, n numeric(14,4), t text, v varchar(30), b boolean,
                             d date, ts timestamptz, j jsonb, by bytea, u uuid, f float8)"""
WIDE_ROWS = """INSERT INTO wide SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 1000 END, (g * 1.2345)::numeric(14,4),
  CASE WHEN g % 17 = 0 THEN E'tab\\there\\nnew line ' || g ELSE 'text ' || g END, 'v' || g, g % 2 = 0,
  date '2020-01-01' + (g % 2000), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
  jsonb_build_object('k', g), decode(md5(g::text), 'hex'), md5(g::text)::uuid, g / 3.0
  FROM generate_series(1, {n}) g"""


def _endpoint(url: str, kind: str) -> Endpoint:
    u = urlsplit(url)
    return Endpoint("e", kind, "postgres", u.hostname, u.port, u.path.lstrip("/"), u.username, u.password or "")


def test_chunks_cover_the_table_once_and_reload_idempotently(src, dst):
    execute(src, WIDE, WIDE_ROWS.format(n=10_000), "ANALYZE wide")
    source, target = PostgresSource(_endpoint(src, "source")), PostgresTarget(_endpoint(dst, "target"))
    try:
        (schema,) = source.tables([TableRule("public", "wide")])
        ranges = source.split(schema, 3_000)
        assert len(ranges) == 3 and ranges[0].after is None and ranges[-1].upto is None
        target.prepare(schema, "drop")
        assert target.bulk_format(schema) == COPY_BINARY
        for within in ranges:
            target.load(schema, source.snapshot(schema, within=within, raw=COPY_BINARY), within=within)
        # A chunk whose commit was not recorded runs again: its rows are replaced, not doubled.
        again = target.load(schema, source.snapshot(schema, within=ranges[1], raw=COPY_BINARY), within=ranges[1])
        assert 3_000 <= again <= 3_500
        assert table_text(dst, "wide") == table_text(src, "wide")
        _arrays_of_built_in_types_go_in_binary_and_an_enum_in_text(source, target, src, dst)
        # A text load (any target) of a composite-key range selects by the key's row order.
        assert KeyRange.between([(5,), (9,)])[1] == KeyRange((5,), (9,))
        target.prepare(schema, "truncate")
        assert target.load(schema, source.snapshot(schema, within=KeyRange((100,), (200,))), within=None) == 100
    finally:
        source.close()
        target.close()


def _arrays_of_built_in_types_go_in_binary_and_an_enum_in_text(source, target, src, dst) -> None:
    mood = "CREATE TYPE mood AS ENUM ('sad', 'ok')"
    execute(src, mood, "CREATE TABLE arr (id int PRIMARY KEY, ia int[], ta text[], na numeric(5,1)[], m mood[])",
            "INSERT INTO arr SELECT g, ARRAY[g, NULL], ARRAY['a\tb', NULL, 'c\"'], ARRAY[g / 2.0], "
            "CASE WHEN g % 2 = 0 THEN ARRAY['ok'::mood] END FROM generate_series(1, 100) g")
    execute(dst, mood)
    tables = {t.table.name: t for t in source.tables([TableRule("public", "arr")])}
    enum = tables["arr"]
    built_in = dataclasses.replace(enum, columns=tuple(c for c in enum.columns if c.name != "m"))
    target.prepare(enum, "drop")
    assert target.bulk_format(enum) is None  # the enum array's elements are named by an OID of its database
    target.prepare(built_in, "drop")
    assert target.bulk_format(built_in) == COPY_BINARY
    target.load(built_in, source.snapshot(built_in, raw=COPY_BINARY))
    assert table_text(dst, "arr") == table_text(src, "(SELECT id, ia, ta, na FROM arr)")


def test_chunked_load_survives_a_killed_worker_and_applies_cached_changes(dms, src, dst):
    execute(src, WIDE, WIDE_ROWS.format(n=300_000), "ANALYZE wide")
    dms.env["DMS_CHUNK_ROWS"] = "20000"  # 15 chunks
    # The key comes after the load: a chunk's first load deletes nothing, one begun before deletes its range,
    # and duplicate rows would fail the key's creation.
    dms.task("chunky", src, dst, "full-load-and-cdc", settings={"FullLoadSettings": {"CreatePkAfterFullLoad": True}})
    first = dms.start_worker(concurrency=1)
    state = StateStore(redis.Redis.from_url(dms.env["DMS_REDIS_URL"], decode_responses=True))
    writer = Writer(src, "wide", 1_000_000)  # changes during the load go to the cache
    writer.start()
    started = dms.in_background("task", "start", "chunky")  # watched at once: the chunks go fast
    tries_key = "dms:task:chunky:chunks:public.wide:tries"

    def begun() -> set[int]:  # chunks whose load has begun and not ended
        return {int(i) for i in state.r.hkeys(tries_key)} - set(state.chunks_done("chunky", "public.wide"))

    # a chunk of 20,000 rows loads in tens of ms: the kill lands while one is begun (its load is cut)
    cut = dms.kill_when(first, lambda: 2 <= len(state.chunks_done("chunky", "public.wide")) <= 10 and begun(),
                        "some chunks to be loaded and one loading")
    assert len(state.chunks("chunky", "public.wide")) == 15
    assert len(state.chunks_done("chunky", "public.wide")) < 15  # killed in the middle of the load
    started()
    dms.start_worker(concurrency=2)
    try:
        dms.wait_live("chunky", timeout=60)
    except AssertionError:  # which chunk or job is missing
        raise AssertionError(f"{state.jobs('chunky')} {state.chunks_done('chunky', 'public.wide')} "
                             f"{state.table_states('chunky')}") from None
    counts = writer.stop()
    assert counts["insert"] > 0
    wait_for(lambda: converged(src, dst, "wide"), 60, "target to equal source")
    assert len(state.chunks_done("chunky", "public.wide")) == 15
    assert "job_recovered" in dms.worker_log(1)
    tries = {int(i): int(n) for i, n in state.r.hgetall(tries_key).items()}
    assert len(tries) == 15 and cut and all(tries[i] >= 2 for i in cut), (tries, cut)  # loaded again, range deleted
    assert "index_not_created" not in dms.worker_log(1)


def test_a_parallel_load_ranges_rule_sets_the_chunks(dms, src, dst):
    execute(src, WIDE, WIDE_ROWS.format(n=5_000))
    mappings = {"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": "public", "table-name": "wide"}},
        {"rule-type": "table-settings", "rule-id": "2", "rule-name": "2",
         "object-locator": {"schema-name": "public", "table-name": "wide"},
         "parallel-load": {"type": "ranges", "columns": ["id"], "boundaries": [["1000"], ["2500"], ["4000"]]}}]}
    dms.task("ranged", src, dst, "full-load", mappings=mappings)
    dms.start_worker(concurrency=1)  # four chunks over two workers
    dms.start_worker(concurrency=1)
    dms.dms("task", "start", "ranged")
    dms.wait_status("ranged", "stopped")
    state = dms.state
    assert [r.upto for r in state.chunks("ranged", "public.wide")] == [("1000",), ("2500",), ("4000",), None]
    assert sorted(state.chunks_done("ranged", "public.wide").values()) == [1000, 1000, 1500, 1500]
    assert table_text(dst, "wide") == table_text(src, "wide")
