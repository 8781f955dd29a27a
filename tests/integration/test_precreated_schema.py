"""Loading into a schema the user created first: DMS's way for homogeneous migrations (pg_dump
--schema-only on the target, then TRUNCATE_BEFORE_LOAD or DO_NOTHING), with a Pagila-like sample
(tests/integration/pagila: enums, a domain, tsvector, arrays, a partitioned table, last_update
triggers, foreign keys between most tables, two tables referencing each other).

Source and target are created from the same script; the task migrates full-load-and-cdc while the
source's application writes (its triggers stamping last_update); at the end every table is equal,
each payment in its partition, and the target's foreign keys and triggers are as the script made them.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from dms_env import connect, converged, execute, limited_user, table_text, wait_for
from services import fresh_db

pytestmark = pytest.mark.integration

PAGILA = Path(__file__).with_name("pagila")
TABLES = ("country", "city", "address", "language", "actor", "category", "film", "film_actor", "film_category",
          "store", "staff", "customer", "inventory", "rental", "payment_p2022_01", "payment_p2022_02",
          "payment_p2022_03", "payment_p2022_04")
FOREIGN_KEYS = ("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                "WHERE contype = 'f' AND conparentid = 0 ORDER BY 1, 2")
TRIGGERS = "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"


def run_script(url: str, name: str) -> None:
    execute(url, (PAGILA / name).read_text())


def query(url: str, sql: str) -> list[tuple]:
    conn = connect(url)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


class Shop(threading.Thread):
    """The source's application: rentals with their payments, customers and films edited (the triggers
    stamp last_update and rebuild fulltext), payments refunded or moved to another month's partition."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop_event, self.error, self.done = url, threading.Event(), None, 0

    def run(self) -> None:
        rnd = random.Random(5)
        conn = connect(self.url)
        conn.autocommit = False
        cur = conn.cursor()
        rental, payment = 10_000, 10_000
        try:
            while not self.stop_event.is_set():
                rental, payment = rental + 1, payment + 1
                cur.execute("INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, staff_id) "
                            "VALUES (%s, now(), %s, %s, %s)",
                            (rental, rnd.randint(1, 400), rnd.randint(1, 300), rnd.randint(1, 4)))
                cur.execute("INSERT INTO payment VALUES (%s, %s, %s, %s, %s, "
                            "timestamptz '2022-01-01 00:00+00' + %s * interval '1 second')",
                            (payment, rnd.randint(1, 300), rnd.randint(1, 4), rental, rnd.choice((0.99, 4.99)),
                             rnd.randrange(86_400 * 119)))
                cur.execute("UPDATE customer SET email = %s WHERE customer_id = %s",
                            (f"new{payment}@example.org", rnd.randint(1, 300)))
                conn.commit()
                cur.execute("UPDATE film SET title = title || ' II', special_features = special_features || "
                            "'{Trailers}' WHERE film_id = %s", (rnd.randint(1, 300),))
                choice = rnd.random()
                if choice < 0.3:  # into March's partition: a delete from one leaf and an insert into another
                    cur.execute("UPDATE payment SET payment_date = payment_date + interval '59 days' "
                                "WHERE payment_id = %s AND payment_date < '2022-02-01'", (rnd.randint(1, 500),))
                elif choice < 0.5:  # a refund: the payment goes, then its rental
                    cur.execute("DELETE FROM payment WHERE rental_id = %s", (rental - 1,))
                    cur.execute("DELETE FROM rental WHERE rental_id = %s", (rental - 1,))
                conn.commit()
                self.done += 1
        except BaseException as exc:  # raised by stop()
            self.error = exc
        finally:
            conn.close()

    def stop(self) -> int:
        self.stop_event.set()
        self.join(30)
        if self.error:
            raise self.error
        return self.done


@pytest.mark.parametrize(("prep", "user"), [("TRUNCATE_BEFORE_LOAD", "superuser"),
                                            ("DO_NOTHING", "superuser"),
                                            ("TRUNCATE_BEFORE_LOAD", "owner")])
def test_pagila_into_a_precreated_schema(dms, pg, pg_target, prep, user):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    run_script(src, "schema.sql")
    run_script(src, "data.sql")
    target = dst
    if user == "owner":  # may not set session_replication_role: the keys and triggers are set aside
        _, target = limited_user(dst)
    run_script(target, "schema.sql")
    if prep == "TRUNCATE_BEFORE_LOAD":  # what the target held before goes: an old copy, and a row of its own
        run_script(dst, "data.sql")
        execute(dst, "INSERT INTO actor VALUES (99999, 'ONLY', 'ONTARGET', now())")
    name = f"pagila-{prep[:2].lower()}-{user}"
    dms.task(name, src, target, "full-load-and-cdc",
             settings={"FullLoadSettings": {"TargetTablePrepMode": prep, "CommitRate": 100}})
    shop = Shop(src)
    shop.start()
    dms.start_worker()
    dms.dms("task", "start", name)
    dms.wait_live(name, timeout=120)
    wait_for(lambda: shop.done >= 20, 60, "the shop to write after the load")
    assert shop.stop() >= 20
    wait_for(lambda: converged(src, dst, *TABLES, "payment"), 60, "every table to be equal")

    task = dms.describe(name)
    assert task["Status"] == "running" and task["ReplicationTaskStats"]["TablesErrored"] == 0
    assert '"transient_error"' not in dms.worker_log()
    notes = task["TargetPreparation"]
    if prep == "TRUNCATE_BEFORE_LOAD":
        assert "emptied the 19 selected table(s) in one TRUNCATE" in notes  # 18 tables and payment, their parent
    if user == "superuser":
        assert "session_replication_role replica" in notes
        assert query(dst, FOREIGN_KEYS) == query(src, FOREIGN_KEYS)  # never touched
    else:
        assert "dropped 21 foreign key(s)" in notes and "disabled 15 trigger(s)" in notes
        # once every table is live the keys come back, valid, in the form the apply defers to each transaction's end
        def put_back() -> list[str]:
            events = [e["Message"] for e in dms.json("task", "events", name)["Events"]]
            return [e for e in events if "put back" in e or "re-created" in e]

        assert len(wait_for(lambda: len(put_back()) >= 21 and put_back(), 60, "the keys to come back"))
        odd = [e for e in put_back() if "validated" not in e or "DEFERRABLE INITIALLY IMMEDIATE" not in e]
        assert not odd, odd
        keys = query(dst, FOREIGN_KEYS)
        assert [k[:2] for k in keys] == [k[:2] for k in query(src, FOREIGN_KEYS)]
        assert all(valid and d.endswith(" DEFERRABLE") and "RESTRICT" not in d for _, _, d, valid in keys)
        assert {e for _, _, e in query(dst, TRIGGERS)} == {"D"}  # still off while changes apply
        dms.dms("task", "stop", name)
        dms.wait_status(name, "stopped")
        dms.dms("task", "delete", name)  # puts everything back as it was
    assert query(dst, FOREIGN_KEYS) == query(src, FOREIGN_KEYS)
    assert all(valid for *_, valid in query(dst, FOREIGN_KEYS))
    assert query(dst, TRIGGERS) == query(src, TRIGGERS)
    for leaf in TABLES[-4:]:  # every payment in its month's partition, none twice
        assert table_text(src, leaf) == table_text(dst, leaf)
    assert query(dst, "SELECT count(*) FROM ONLY payment") == [(0,)]


def rules(*locators: tuple[str, str, str]) -> dict:
    return {"rules": [{"rule-type": "selection", "rule-id": str(i), "rule-name": str(i), "rule-action": action,
                       "object-locator": {"schema-name": "public", "table-name": table}}
                      for i, (action, table) in enumerate(locators, 1)]}


def test_a_rule_naming_a_partitioned_table_selects_its_partitions(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    run_script(src, "schema.sql")
    path = dms.tmp / "payments.json"
    path.write_text(json.dumps(rules(("include", "payment"), ("exclude", "payment_p2022_04"))))
    args = ["task", "create", "payments", "--source", dms.endpoint("src-pay", "source", src), "--target",
            dms.endpoint("dst-pay", "target", dst), "--instance", dms.instance, "--migration-type", "full-load",
            "--table-mappings", str(path), "--dry-run"]
    plan = dms.dms(*args).stdout
    assert [f"public.payment_p2022_0{m}" in plan for m in (1, 2, 3, 4)] == [True, True, True, False]
    assert "public.payment " not in plan and "public.payment\n" not in plan  # never the parent itself


def test_truncate_stops_before_anything_when_an_unselected_table_references_a_selected_one(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    for url in (src, dst):
        run_script(url, "schema.sql")
    run_script(dst, "data.sql")
    dms.task("refd", src, dst, "full-load", mappings=rules(("include", "%"), ("exclude", "film_actor")),
             settings={"FullLoadSettings": {"TargetTablePrepMode": "TRUNCATE_BEFORE_LOAD"}})
    before = {t: table_text(dst, t) for t in ("actor", "film", "film_actor")}
    proc = dms.dms("task", "start", "refd", check=False)
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert "film_actor references actor (film_actor_actor_id_fkey)" in message
    assert "film_actor references film (film_actor_film_id_fkey)" in message
    assert "Nothing was truncated" in message and "Select the referencing table(s) too" in message
    assert "drop those foreign keys" in message and "DO_NOTHING" in message
    assert len(message.splitlines()) == 1
    assert {t: table_text(dst, t) for t in before} == before
    assert dms.describe("refd")["Status"] != "running"


def test_fire_triggers_lets_the_targets_triggers_fire_and_sets_the_keys_aside(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    schema = ("CREATE TABLE parent (id int PRIMARY KEY, note text)",
              "CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent, seen text)")
    execute(src, *schema, "INSERT INTO parent VALUES (1, 'a')", "INSERT INTO child VALUES (1, 1, 'source')")
    execute(dst, *schema, "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN NEW.seen = 'target trigger'; RETURN NEW; END $$",
            "CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON child FOR EACH ROW EXECUTE FUNCTION stamp()")
    u = urlsplit(dst)
    target = dms.dms("endpoint", "create", "dst-fire", "--type", "target", "--engine", "postgres", "--host",
                     u.hostname, "--port", str(u.port), "--database", u.path.lstrip("/"), "--user", u.username,
                     "--password", u.password, "--extra", "fireTriggers=true") and "dst-fire"
    path = dms.tmp / "fire.json"
    path.write_text(json.dumps(rules(("include", "%"))))
    (dms.tmp / "fire-settings.json").write_text(json.dumps({"FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"}}))
    dms.dms("task", "create", "fire", "--source", dms.endpoint("src-fire", "source", src), "--target", target,
            "--instance", dms.instance, "--migration-type", "full-load-and-cdc", "--table-mappings", str(path),
            "--settings", str(dms.tmp / "fire-settings.json"))
    dms.start_worker()
    dms.dms("task", "start", "fire")
    dms.wait_live("fire")
    execute(src, "BEGIN; INSERT INTO parent VALUES (2, 'b'); INSERT INTO child VALUES (2, 2, 'source'); COMMIT")
    wait_for(lambda: len(table_text(dst, "child")) == 2, 30, "the change to apply")
    assert table_text(dst, "child") == ["(1,1,\"target trigger\")", "(2,2,\"target trigger\")"]  # it fired
    notes = dms.describe("fire")["TargetPreparation"]
    assert "dropped 1 foreign key(s)" in notes and "fireTriggers=true" in notes and "disabled" not in notes
    wait_for(lambda: query(dst, FOREIGN_KEYS) and query(dst, FOREIGN_KEYS)[0][3], 30, "the key to come back")


def test_a_table_loaded_again_alone_is_emptied_even_when_others_reference_it(pg_target):
    from connectors.base import Column, Endpoint, TableId, TableSchema
    from connectors.postgres.target import PostgresTarget

    dst = fresh_db(pg_target)
    execute(dst, "CREATE TABLE parent (id int PRIMARY KEY)", "CREATE TABLE child (id int PRIMARY KEY, "
            "parent_id int REFERENCES parent)", "INSERT INTO parent VALUES (1)", "INSERT INTO child VALUES (1, 1)")
    u = urlsplit(dst)
    target = PostgresTarget(Endpoint("t", "target", "postgres", u.hostname, u.port, u.path.lstrip("/"), u.username,
                                     u.password))
    try:
        assert target.replica  # the test server's user is a superuser
        target.prepare(TableSchema(TableId("public", "parent"), (Column("id", "int4", False, "integer"),), ("id",),
                                   "postgres"), "truncate")
    finally:
        target.close()
    assert table_text(dst, "parent") == [] and table_text(dst, "child") == ["(1,1)"]  # TRUNCATE would refuse


def test_a_full_load_task_puts_keys_and_triggers_back_after_its_last_table_and_on_a_resume(dms, pg, pg_target):
    src, dst = fresh_db(pg), fresh_db(pg_target)
    run_script(src, "schema.sql")
    run_script(src, "data.sql")
    _, target = limited_user(dst)
    run_script(target, "schema.sql")
    dms.task("fullowner", src, target, "full-load",
             settings={"FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"}})
    dms.start_worker()
    dms.dms("task", "start", "fullowner")
    assert dms.wait_status("fullowner", "stopped", "failed")["Status"] == "stopped"
    assert converged(src, dst, *TABLES)
    assert "dropped 21 foreign key(s)" in dms.describe("fullowner")["TargetPreparation"]
    wait_for(lambda: query(dst, FOREIGN_KEYS) == query(src, FOREIGN_KEYS), 30, "the keys to be back as they were")
    assert query(dst, TRIGGERS) == query(src, TRIGGERS)  # enabled again
    # A worker that died between the last load and the put-back: the resume puts back what is left.
    (table, name, definition, _), *_ = query(dst, FOREIGN_KEYS)
    execute(dst, f"ALTER TABLE {table} DROP CONSTRAINT {name}",
            f"INSERT INTO awsdms_set_aside VALUES ('fullowner', 'foreign key', '{table}', '{name}', '{definition}')")
    dms.dms("task", "start", "fullowner", "--type", "resume-processing")
    assert query(dst, FOREIGN_KEYS) == query(src, FOREIGN_KEYS)
    assert any(f"foreign key {name} on {table} re-created, validated" in e["Message"]
               for e in dms.json("task", "events", "fullowner")["Events"])


def test_putting_a_key_back_gives_way_to_the_apply_instead_of_deadlocking_it(pg_target):
    """The apply has written the parent in its open transaction and waits to write the child, queued behind the
    put-back, which has asked for the child to add the key and will then ask for the parent: a deadlock, in
    which the server aborts the one that waited longest, the apply (a CI run once failed so). The put-back
    waits for its locks only briefly and tries again: the apply goes on, and the key comes back."""
    from connectors.base import Endpoint, TableId, TableSchema
    from connectors.postgres.target import PostgresTarget

    dst = fresh_db(pg_target)
    _, owner = limited_user(dst)
    execute(owner, "CREATE TABLE parent (id int PRIMARY KEY, n int)",
            "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, n int)",
            "INSERT INTO parent VALUES (1, 0)", "INSERT INTO child VALUES (1, 1, 0)")
    u = urlsplit(owner)
    endpoint = Endpoint("t", "target", "postgres", u.hostname, u.port, u.path.lstrip("/"), u.username, u.password)
    target = PostgresTarget(endpoint)
    try:
        assert not target.replica  # the keys are set aside
        tables = [TableSchema(TableId("public", t), (), ("id",), "postgres") for t in ("parent", "child")]
        target.before_load("meet", tables, "keep")
    finally:
        target.close()
    assert query(dst, FOREIGN_KEYS) == []

    def waiting() -> int:
        return query(dst, "SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0]

    def session() -> Any:
        conn = connect(dst)
        conn.autocommit = False
        return conn

    other, apply = session(), session()
    other.cursor().execute("UPDATE child SET n = n")  # holds the child a moment, so the put-back queues first
    apply.cursor().execute("UPDATE parent SET n = n + 1")  # the apply's transaction holds the parent
    notes: list[str] = []
    errors: list[Exception] = []

    def put_back() -> None:
        t = PostgresTarget(endpoint)
        try:
            notes.extend(t.after_load("meet", replicating=True))
        finally:
            t.close()

    def write_child() -> None:
        try:
            apply.cursor().execute("UPDATE child SET n = n + 1")
            apply.commit()
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    putting, writing = threading.Thread(target=put_back), threading.Thread(target=write_child)
    putting.start()
    wait_for(lambda: waiting() >= 1, 10, "the put-back to wait for the child")
    writing.start()
    wait_for(lambda: waiting() >= 2 or not writing.is_alive(), 10, "the apply to wait for the child")
    other.commit()
    writing.join(30)
    putting.join(60)
    other.close()
    apply.close()
    assert not errors and not writing.is_alive() and not putting.is_alive()
    assert [(t, n) for t, n, _, _ in query(dst, FOREIGN_KEYS)] == [("child", "child_parent_id_fkey")], notes
    assert query(dst, "SELECT n FROM child") == [(1,)]
