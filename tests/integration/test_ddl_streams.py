"""Schema changes during CDC into append targets, read back from the real servers: a PostgreSQL source's
DDL reaches a Kafka topic as DMS's control records (IncludeTableAlterOperations, IncludeControlDetails) in
order with the data records of the same table, and starts a new S3 file with the new shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dms_env import SELECT_ALL, Writer, execute, wait_for
from services import fresh_db

from tests.integration.test_kafka import consume

pytestmark = pytest.mark.integration

TABLES = ("CREATE TABLE w (id int PRIMARY KEY, i int, t text, n float8)",
          "INSERT INTO w SELECT g, g % 10, 'row ' || g, g / 3.0 FROM generate_series(1, 100) g",
          "CREATE TABLE shape (id int PRIMARY KEY, a text, gone int)", "INSERT INTO shape VALUES (1, 'one', 1)",
          "CREATE TABLE doomed (id int PRIMARY KEY)", "INSERT INTO doomed VALUES (1)",
          "CREATE TABLE emptied (id int PRIMARY KEY)", "INSERT INTO emptied VALUES (1), (2)")


def _by_table(records: list[tuple[int, dict[str, Any]]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for partition, doc in records:
        out.setdefault(doc["metadata"]["table-name"], []).append((partition, doc))
    return out


def _ops(docs: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """Each record's operation, controls prefixed ``control:``."""
    return [("control:" if d["metadata"]["record-type"] == "control" else "") + d["metadata"]["operation"]
            for _, d in docs]


def test_kafka_gets_dms_control_records_in_order_with_the_data(dms, pg, kafka_server):
    src = fresh_db(pg)
    execute(src, *TABLES)
    topic = f"ddl-{dms.suffix}"
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    dms.dms("endpoint", "create", f"k-{dms.suffix}", "--type", "target", "--engine", "kafka", "--kafka-settings",
            json.dumps({"Broker": kafka_server.broker, "Topic": topic, "CheckpointTopic": f"cp-{dms.suffix}",
                        "MessageFormat": "json-unformatted", "IncludeTableAlterOperations": True,
                        "IncludeControlDetails": True}))
    (dms.tmp / "all.json").write_text(json.dumps(SELECT_ALL))
    dms.dms("task", "create", "kddl", "--source", source, "--target", f"k-{dms.suffix}", "--instance", dms.instance,
            "--migration-type", "full-load-and-cdc", "--table-mappings", str(dms.tmp / "all.json"))
    dms.start_worker()
    dms.dms("task", "start", "kddl")
    dms.wait_live("kddl")
    writer = Writer(src, "w", 1000)
    writer.start()
    try:
        wait_for(lambda: writer.counts["insert"] > 10, 30, "writes before the change")
        execute(src, "ALTER TABLE w ADD COLUMN extra int DEFAULT 7")
        wait_for(lambda: writer.counts["insert"] > 30, 30, "writes after the change")
        execute(src, "BEGIN; INSERT INTO shape VALUES (2, 'two', 2); ALTER TABLE shape RENAME COLUMN a TO label; "
                     "INSERT INTO shape VALUES (3, 'three', 3); COMMIT",
                "BEGIN; UPDATE shape SET gone = 20 WHERE id = 2; ALTER TABLE shape DROP COLUMN gone; "
                "INSERT INTO shape VALUES (4, 'four'); COMMIT",
                "BEGIN; CREATE TABLE fresh (id int PRIMARY KEY, v text); INSERT INTO fresh VALUES (1, 'same txn'); "
                "COMMIT", "INSERT INTO fresh SELECT g, 'after ' || g FROM generate_series(2, 5) g",
                "INSERT INTO doomed VALUES (2)", "DROP TABLE doomed",
                "TRUNCATE emptied", "INSERT INTO emptied VALUES (3)")
    finally:
        counts = writer.stop()
    last = 1000 + counts["insert"]
    execute(src, "INSERT INTO emptied VALUES (4)")  # the last change, to wait for

    def tables() -> dict[str, list[tuple[int, dict[str, Any]]]]:
        return _by_table(consume(kafka_server.broker, topic, changes_only=True))

    def arrived() -> dict[str, list[tuple[int, dict[str, Any]]]] | None:
        t = tables()
        return t if any(d.get("data", {}).get("id") == 4 for _, d in t.get("emptied", [])) else None

    got = wait_for(arrived, 90, "the last change to reach the topic")
    for name, docs in got.items():  # each table's CDC records, controls included, on one partition
        assert len({p for p, _ in docs}) == 1, name

    # ADD COLUMN while the writer runs: inserts before lack the new field, every one after carries it.
    w = [d for _, d in got["w"]]
    (at,) = [i for i, d in enumerate(w) if d["metadata"]["record-type"] == "control"]
    control = w[at]
    assert control["metadata"]["operation"] == "add-column" and control["control"]["column-name"] == "extra"
    assert control["control"]["table-def"]["columns"]["extra"] == {"type": "INT4", "nullable": True}
    assert control["control"]["table-def"]["primary-key"] == ["id"]
    assert (control["metadata"]["schema-name"], control["metadata"]["table-name"]) == ("public", "w")
    before = [d for d in w[:at] if d["metadata"]["operation"] == "insert"]
    after = [d for d in w[at + 1:] if d["metadata"]["operation"] == "insert"]
    assert before and after and not any("extra" in d["data"] for d in before)
    assert all(d["data"]["extra"] == 7 for d in after)
    assert max(d["data"]["id"] for d in after) == last

    shape = [d for _, d in got["shape"]]
    assert _ops(got["shape"]) == ["insert", "control:rename-column", "insert", "update", "control:drop-column",
                                  "insert"]
    assert (shape[1]["control"]["old-column-name"], shape[1]["control"]["column-name"]) == ("a", "label")
    assert shape[0]["data"] == {"id": 2, "a": "two", "gone": 2} and shape[2]["data"] == {
        "id": 3, "label": "three", "gone": 3}
    assert shape[4]["control"]["column-name"] == "gone" and list(shape[4]["control"]["table-def"]["columns"]) == [
        "id", "label"]
    assert shape[5]["data"] == {"id": 4, "label": "four"}

    assert _ops(got["fresh"]) == ["control:create-table", *["insert"] * 5]
    assert list(got["fresh"][0][1]["control"]["table-def"]["columns"]) == ["id", "v"]
    assert [d["data"]["id"] for _, d in got["fresh"][1:]] == [1, 2, 3, 4, 5]
    assert _ops(got["doomed"]) == ["insert", "control:drop-table"]
    assert _ops(got["emptied"]) == ["control:truncate-table", "insert", "insert"]
    stats = dms.stats("kddl")
    assert not [t for t, s in stats.items() if s["TableState"] == "Table error"], stats
    assert stats["public.w"]["Ddls"] == 1 and stats["public.shape"]["Ddls"] == 2


@pytest.mark.parametrize("data_format", ["parquet", "csv"])
def test_s3_starts_a_new_file_at_each_schema_change(dms, src, s3_server, data_format):
    """Changes gathered into parts (CdcMaxBatchInterval 3600) before a column change become a file of their
    own in the old shape; the changes after it start a new one: no file mixes two shapes (Parquet's schema,
    CSV's header under AddColumnName), and the files read back fold into the source table."""
    import io

    import pyarrow.parquet as pq

    from connectors.base import Endpoint, TableRule
    from connectors.registry import open_source, open_target
    from tests.integration.test_s3_target import _pg

    settings = {"BucketName": s3_server.bucket(), "EndpointUrl": s3_server.url, "DataFormat": data_format,
                "CdcMaxBatchInterval": 3600, "AddColumnName": True}
    task = f"s3ddl-{data_format}"  # the tests' Redis is shared: a name of its own
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, a text, gone int)", "INSERT INTO t VALUES (1, 'one', 1)")
    dms.dms("endpoint", "create", f"s3-{dms.suffix}", "--type", "target", "--engine", "s3", "--s3-settings",
            json.dumps(settings))
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    (dms.tmp / "all.json").write_text(json.dumps(SELECT_ALL))
    dms.dms("task", "create", task, "--source", source, "--target", f"s3-{dms.suffix}", "--instance",
            dms.instance, "--migration-type", "full-load-and-cdc", "--table-mappings", str(dms.tmp / "all.json"))
    dms.start_worker()
    dms.dms("task", "start", task)
    dms.wait_live(task)
    execute(src, "INSERT INTO t VALUES (2, 'two', 2)", "ALTER TABLE t ADD COLUMN extra int",
            "INSERT INTO t VALUES (3, 'three', 3, 30)", "UPDATE t SET extra = 10 WHERE id = 1",
            "ALTER TABLE t DROP COLUMN gone", "INSERT INTO t VALUES (4, 'four', 40)", "DELETE FROM t WHERE id = 2")
    wait_for(lambda: dms.stats(task)["public.t"]["Deletes"] == 1, 60, "the changes to be applied")
    dms.dms("task", "stop", task)  # the parts after the last change become its file
    wait_for(lambda: dms.describe(task)["Status"] == "stopped", 60, "the task to stop")
    assert dms.stats(task)["public.t"]["Ddls"] == 2

    ep = Endpoint("check", "target", "s3", extra={k: str(v).lower() if isinstance(v, bool) else str(v)
                                                  for k, v in settings.items()})
    s3 = open_target(ep)
    keys = sorted(k for k in s3.store.list("public/t/") if "LOAD" not in k)

    def shape(key: str) -> list[str]:
        data = s3.store.get(key)
        if data_format == "parquet":
            return [n for n in pq.read_schema(io.BytesIO(data)).names if n != "Op"]
        return data.decode().splitlines()[0].split(",")[1:]

    assert [shape(k) for k in keys] == [["id", "a", "gone"], ["id", "a", "gone", "extra"], ["id", "a", "extra"]]
    reader = open_source(Endpoint("src", "source", "postgres", *_pg(src)))
    (schema,) = reader.tables([TableRule("public", "t", "explicit")])
    reader.close()
    assert [(r["id"], r["a"], r["extra"]) for rows in s3.read(schema) for r in rows] == [
        (1, "one", 10), (3, "three", 30), (4, "four", 40)]
