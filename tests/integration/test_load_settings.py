"""FullLoadSettings on real servers: MaxFullLoadSubTasks across workers (and a killed one),
CreatePkAfterFullLoad, and the keys, unique indexes and declared types the target gets."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from dms_env import converged, execute, rows, table_text, wait_for

from worker.state import StateStore

pytestmark = pytest.mark.integration

# Loaded in this order by their load-order (higher first), not by name.
ORDER = ["t3", "t1", "t4", "t2"]


def _select(table: str, load_order: int, rule_id: int) -> dict:
    return {"rule-type": "selection", "rule-id": str(rule_id), "rule-name": table, "rule-action": "include",
            "load-order": load_order, "object-locator": {"schema-name": "public", "table-name": table}}


def test_one_subtask_loads_tables_one_at_a_time_in_load_order_even_when_a_worker_dies(dms, src, dst):
    for name in ORDER:
        execute(src, f"CREATE TABLE {name} (id int PRIMARY KEY, v text)",
                f"INSERT INTO {name} SELECT g, repeat('{name}', 20) FROM generate_series(1, 150000) g")
    mappings = {"rules": [_select(t, 10 - i, i + 1) for i, t in enumerate(ORDER)]}
    dms.task("onebyone", src, dst, "full-load", mappings=mappings,
             settings={"FullLoadSettings": {"MaxFullLoadSubTasks": 1}})
    first = dms.start_worker(concurrency=2)
    state = dms.state
    # Kill the worker in the middle of the second table: its job is taken over, the others still wait.
    # Watched from before the start: a table loads in about a second, sooner than a busy `dms task start` exits.
    seen: list[dict] = []

    def kill_in_the_second_table() -> None:
        seen.append(dms.kill_when(first, lambda: state.table_states("onebyone").get("public.t1") == "loading"
                                  and state.jobs("onebyone"), "the second table to load", timeout=180))

    watcher = threading.Thread(target=kill_in_the_second_table, daemon=True)
    watcher.start()
    dms.dms("task", "start", "onebyone")
    watcher.join(timeout=185)
    assert seen, "the second table was never seen loading"
    assert sorted(seen[0].values()) == ["done", "running", "waiting", "waiting"], seen[0]
    dms.start_worker(concurrency=2)
    dms.wait_status("onebyone", "stopped", timeout=120)

    stats = dms.stats("onebyone")
    spans = sorted((stats[f"public.{t}"]["FullLoadStartTime"], stats[f"public.{t}"]["FullLoadEndTime"], t)
                   for t in ORDER)
    assert [t for _, _, t in spans] == ORDER
    for (_, end, t), (start, _, u) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"{t} was still loading when {u} started"
    for t in ORDER:
        assert stats[f"public.{t}"]["FullLoadRows"] == 150000
        assert rows(dst, f"(SELECT count(*), min(id), max(id) FROM {t}) c") == [(150000, 1, 150000)]
    assert "job_recovered" in dms.worker_log(1)


def test_claims_never_pass_the_limit_nor_send_a_job_twice(redis_server):
    """Many finishing jobs claiming at once: each waiting job is claimed once, never more than the limit at once."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    state = StateStore(client)
    task = "claims-" + threading.get_ident().__str__()
    state.reset_run(task)
    jobs = [f"full_load:public.t{i:03}" for i in range(200)]
    state.set_task(task, Status="running", max_full_load_subtasks=3)
    state.hold(task, jobs)
    claimed: list[str] = []
    most = [0]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            got = state.claim_waiting(task)
            with lock:
                claimed.extend(got)
                running = sum(s in ("queued", "running") for s in state.jobs(task).values())
                most[0] = max(most[0], running)
            for job in got:
                state.sent(task, job)
                state.set_job(task, job, "done")  # the job ran and ended: its place is free
            if not got and all(s == "done" for s in state.jobs(task).values()):
                return

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == jobs  # every job once, none twice
    assert claimed[:3] == jobs[:3]  # in the waiting order
    assert most[0] <= 3
    assert state.unsent(task, older_than=0) == []  # every claimed job was sent
    state.forget_task(task)


SHOP = """CREATE TABLE shop (
  id int PRIMARY KEY, email varchar(40) NOT NULL UNIQUE, amount numeric(12,2), code char(3),
  a int, b int, note text, UNIQUE (a, b))"""


def test_key_after_full_load_unique_indexes_and_declared_types(dms, src, dst):
    execute(src, SHOP,
            "CREATE UNIQUE INDEX shop_note_partial ON shop (note) WHERE note <> ''",  # not carried: partial
            "CREATE UNIQUE INDEX shop_lower_email ON shop (lower(email))",  # not carried: an expression
            "CREATE UNIQUE INDEX shop_code_a ON shop (code, a) INCLUDE (note)",  # carried without its INCLUDE
            "INSERT INTO shop SELECT g, 'u' || g || '@x.org', g * 1.25, 'c' || (g % 10), g, g % 7, 'n' || g "
            "FROM generate_series(1, 20000) g",
            "CREATE TABLE tiny (id int PRIMARY KEY, code text UNIQUE)",  # loaded whole; shop in 4 chunks
            "INSERT INTO tiny SELECT g, 'k' || g FROM generate_series(1, 10) g")
    dms.env["DMS_CHUNK_ROWS"] = "5000"
    # SUSPEND_TABLE: a batch the target refuses is not retried change by change, so the unique values
    # that two rows swap (below) must pass because the target checks them at commit.
    settings = {"FullLoadSettings": {"CreatePkAfterFullLoad": True},
                "ErrorBehavior": {"DataErrorPolicy": "SUSPEND_TABLE"}}
    dms.task("shop", src, dst, "full-load-and-cdc", settings=settings)
    plan = dms.dms("task", "create", "shop-plan", "--source", f"src-{dms.suffix}-shop", "--target",
                   f"dst-{dms.suffix}-shop", "--instance", dms.instance, "--migration-type", "full-load-and-cdc",
                   "--table-mappings", str(dms.tmp / "shop-mappings.json"),
                   "--settings", str(dms.tmp / "shop-settings.json"), "--dry-run").stdout
    assert "public.shop -> public.shop  key (id)  (added after the full load: CreatePkAfterFullLoad)" in plan
    assert "unique (email)  (added after the full load)" in plan and "unique (a, b)" in plan
    assert "unique (code, a)" in plan and "unique (note)" not in plan
    # homogeneous: the source's own declaration, with its DMS type between
    assert ("email                          character varying(40) -> WSTRING(40) -> character varying(40) NOT NULL"
            in plan)
    assert "amount                         numeric(12,2) -> NUMERIC(12,2) -> numeric(12,2)" in plan

    dms.start_worker(concurrency=2)
    dms.dms("task", "start", "shop")
    # Changes while the table loads are cached, and applied only once the key exists.
    execute(src, "INSERT INTO shop VALUES (30001, 'new@x.org', 1.5, 'new', 30001, 1, 'new')",
            "UPDATE shop SET amount = amount + 1 WHERE id % 1000 = 0", "DELETE FROM shop WHERE id = 7")
    dms.wait_live("shop")
    # Two rows swap their unique emails through a third value, in one source transaction.
    execute(src, "BEGIN", "UPDATE shop SET email = 'tmp' WHERE id = 1", "UPDATE shop SET email = 'u1@x.org' "
            "WHERE id = 2", "UPDATE shop SET email = 'u2@x.org' WHERE id = 1", "COMMIT",
            "INSERT INTO shop VALUES (30002, 'newer@x.org', 2.5, 'nwr', 30002, 1, 'newer')")
    wait_for(lambda: converged(src, dst, "shop"), 60, "target to equal source")

    constraints = rows(dst, "(SELECT conname, contype, pg_get_constraintdef(oid), condeferrable FROM pg_constraint "
                            "WHERE conrelid = 'shop'::regclass) c", order="1")
    assert constraints == [
        ("shop_a_b_key", "u", "UNIQUE (a, b) DEFERRABLE INITIALLY DEFERRED", True),
        ("shop_code_a_key", "u", "UNIQUE (code, a) DEFERRABLE INITIALLY DEFERRED", True),
        ("shop_email_key", "u", "UNIQUE (email) DEFERRABLE INITIALLY DEFERRED", True),
        ("shop_pkey", "p", "PRIMARY KEY (id)", False),
    ]
    assert rows(dst, "(SELECT count(*) FROM pg_indexes WHERE tablename = 'shop') c") == [(4,)]
    types = rows(dst, "(SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                      "'shop'::regclass AND attnum > 0) c", order="1")
    assert dict(types) == {"id": "integer", "email": "character varying(40)", "amount": "numeric(12,2)",
                           "code": "character(3)", "a": "integer", "b": "integer", "note": "text"}
    assert table_text(dst, "shop") == table_text(src, "shop")
    # Chunks come from the planner's row estimate, which autovacuum may refresh meanwhile: about four.
    assert len(dms.state.chunks("shop", "public.shop")) >= 3 and dms.state.chunks("shop", "public.tiny") is None
    assert rows(dst, "(SELECT conname, contype FROM pg_constraint WHERE conrelid = 'tiny'::regclass) c") == [
        ("tiny_code_key", "u"), ("tiny_pkey", "p")]
    assert table_text(dst, "tiny") == table_text(src, "tiny")
    events = [json.loads(line).get("event") for line in dms.worker_log(0).splitlines() if line.startswith("{")]
    assert events.index("keys_created") < events.index("cached_changes_applied")


def test_a_queued_job_whose_message_is_gone_is_sent_again_once(redis_server):
    """A worker killed between taking a job's message and starting the job strands it in the broker's
    unacknowledged set; the reclaimers notice its queue is empty and one of them sends it again."""
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    state = StateStore(r)
    task, job, queue = "stranded-t", "full_load:public.a", "dms.stranded-ri.full_load"
    r.rpush(queue, "another job's message")
    assert not state.stranded(task, job, queue, 0.3)  # its message may be the one waiting
    r.delete(queue)
    assert not state.stranded(task, job, queue, 0.3)  # first seen without it: it may be starting
    assert not state.stranded(task, job, queue, 0.3)
    time.sleep(0.35)
    verdicts = []
    threads = [threading.Thread(target=lambda: verdicts.append(state.stranded(task, job, queue, 0.3)))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(verdicts) == [False] * 5 + [True]
