"""PostgreSQL -> S3 through the real `dms` CLI and workers, on a real S3-compatible server (gofakes3): the
files in DMS's layout, rebuilt into rows by applying their I/U/D records in order, equal the source table after
a full load with writes during it and a worker killed with SIGKILL mid-CDC; bad settings and bad buckets
are one line each."""

from __future__ import annotations

import json
import re

import pytest
from dms_env import Writer, connect, execute, wait_for

from connectors.base import Endpoint, TableRule
from connectors.registry import open_source, open_target

pytestmark = pytest.mark.integration

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"
SEED = "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 5000) g"


def s3_endpoint(dms, name: str, **settings) -> str:
    dms.dms("endpoint", "create", name, "--type", "target", "--engine", "s3", "--s3-settings", json.dumps(settings))
    return name


def source_rows(url: str) -> list[tuple]:
    conn = connect(url)
    cur = conn.cursor()
    cur.execute("SELECT id, i, t, n FROM orders ORDER BY id")
    out = cur.fetchall()
    conn.close()
    return out


def test_full_load_and_cdc_with_writes_during_the_load_and_a_worker_killed(dms, src, s3_server):
    """Parquet here (the conformance suite runs CSV and Parquet alike), with date folders and a timestamp column."""
    data_format = "parquet"
    bucket = s3_server.bucket()
    settings = {"BucketName": bucket, "EndpointUrl": s3_server.url, "BucketFolder": "lake", "DataFormat": data_format,
                "TimestampColumnName": "ts", "DatePartitionEnabled": True}
    execute(src, ORDERS, SEED)
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    target = s3_endpoint(dms, f"s3-{dms.suffix}", **settings)
    assert "OK" in dms.dms("endpoint", "test", target).stdout
    (dms.tmp / "all.json").write_text(json.dumps({"rules": [{
        "rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
        "object-locator": {"schema-name": "public", "table-name": "orders"}}]}))
    task = f"to-s3-{data_format}"
    dms.dms("task", "create", task, "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load-and-cdc", "--table-mappings", str(dms.tmp / "all.json"))
    writer = Writer(src, "orders", 100_000)
    # chunks of 1,000 rows for any target that takes them: this one loads the table as one stream (split_loads)
    worker = dms.start_worker(DMS_CHUNK_ROWS="1000")
    dms.dms("task", "start", task)
    writer.start()  # changes while the table loads
    dms.wait_live(task)
    wait_for(lambda: sum(writer.counts.values()) > 300, 60, "changes during CDC")
    dms.kill(worker)  # SIGKILL mid-CDC: a batch's file may be written without its checkpoint
    dms.start_worker(DMS_CHUNK_ROWS="1000")
    wait_for(lambda: sum(writer.counts.values()) > 600, 60, "changes after the kill")
    counts = writer.stop()
    assert counts["rekey"] and counts["delete"] and counts["update"]

    ep = Endpoint("check", "target", "s3", extra={k: str(v).lower() if isinstance(v, bool) else str(v)
                                                  for k, v in settings.items()})
    reader = open_source(Endpoint("src", "source", "postgres", *_pg(src)))
    (schema,) = reader.tables([TableRule("public", "orders", "explicit")])
    reader.close()
    s3 = open_target(ep)

    def folded() -> list[tuple]:
        return [(r["id"], r["i"], r["t"], r["n"]) for rows in s3.read(schema) for r in rows]

    expected = source_rows(src)
    wait_for(lambda: folded() == expected, 90, "the rows rebuilt from the files to equal the source")
    assert dms.describe(task)["Status"] == "running"
    # `dms task validate` reads the files back itself and compares them with the source, row by row.
    assert "source and target are identical (1 tables)" in dms.dms("task", "validate", task).stdout
    # CDC files gather batches for CdcMaxBatchInterval (60 s); the task's stop writes what its parts hold.
    dms.dms("task", "stop", task)
    wait_for(lambda: dms.describe(task)["Status"] == "stopped", 60, "the task to stop")
    assert s3.store.list("lake/_opendms/pending/") == [] and folded() == expected
    suffix = ".parquet" if data_format == "parquet" else ".csv"
    keys = s3.store.list("lake/public/orders/")
    assert [k for k in keys if "LOAD" in k] == ["lake/public/orders/LOAD00000001" + suffix]  # one file, unsplit
    changes = [k for k in keys if "LOAD" not in k]
    assert changes and all(re.fullmatch(r"lake/public/orders/\d{4}/\d{2}/\d{2}/\d{8}-\d{10}" + re.escape(suffix), k)
                           for k in changes), changes[:3]


def test_a_parallel_load_rule_splits_the_load_into_ranges_of_their_own_files(dms, src, tmp_path):
    """By default a table loads as one stream (the test above); a parallel-load table setting, as in DMS, loads
    its key ranges side by side: each range's LOAD files numbered apart from the others', each file's claim
    holding keys of its range alone (what a range loaded again removes), rows equal."""
    execute(src, ORDERS, SEED)
    lake = tmp_path / "lake"
    lake.mkdir()
    settings = {"BucketName": f"file://{lake}"}
    target = s3_endpoint(dms, f"s3-split-{dms.suffix}", **settings)
    source = dms.endpoint(f"src-split-{dms.suffix}", "source", src)
    (dms.tmp / "split.json").write_text(json.dumps({"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": "public", "table-name": "orders"}},
        {"rule-type": "table-settings", "rule-id": "2", "rule-name": "2",
         "object-locator": {"schema-name": "public", "table-name": "orders"},
         "parallel-load": {"type": "ranges", "columns": ["id"], "boundaries": [["1000"], ["3000"]]}}]}))
    dms.dms("task", "create", "split", "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load", "--table-mappings", str(dms.tmp / "split.json"))
    dms.start_worker(concurrency=2)
    dms.dms("task", "start", "split")
    dms.wait_status("split", "stopped")
    assert sorted(dms.state.chunks_done("split", "public.orders").values()) == [1000, 2000, 2000]

    s3 = open_target(Endpoint("check", "target", "s3", extra={k: str(v) for k, v in settings.items()}))
    loads = [k.rsplit("/", 1)[-1] for k in s3.store.list("public/orders/")]
    assert len(loads) >= 3 and all(re.fullmatch(r"LOAD[0-9A-F]{8}\.csv", k) for k in loads), loads
    assert sorted(int(k[4:12], 16) for k in loads) == list(range(1, len(loads) + 1))  # no number taken twice
    ranges = {0: (1, 1000), 1: (1001, 3000), 2: (3001, 5000)}
    for claim in s3.store.list("_opendms/load/public/orders/"):
        doc = json.loads(s3.store.get(claim))
        (low,), (high,) = doc["low"], doc["high"]
        assert any(a <= low <= high <= b for a, b in ranges.values()), doc  # one range's keys, never two
    reader = open_source(Endpoint("src", "source", "postgres", *_pg(src)))
    (schema,) = reader.tables([TableRule("public", "orders", "explicit")])
    reader.close()
    assert [(r["id"], r["i"], r["t"], r["n"]) for rows in s3.read(schema) for r in rows] == source_rows(src)


def _pg(url: str) -> tuple:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return u.hostname, u.port, u.path.lstrip("/"), u.username, u.password


def test_bad_settings_and_buckets_are_one_line_each(dms, s3_server):
    refused = dms.dms("endpoint", "create", "typo", "--type", "target", "--engine", "s3", "--s3-settings",
                      json.dumps({"BucketName": "b", "CsvDelimeter": ";"}), check=False)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: S3Settings has no key 'CsvDelimeter': did you mean CsvDelimiter?"], refused.stderr
    refused = dms.dms("endpoint", "create", "orc", "--type", "target", "--engine", "s3", "--s3-settings",
                      json.dumps({"BucketName": "b", "DataFormat": "orc"}), check=False)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "DataFormat 'orc' is not one of csv, parquet" in lines[0]
    # more bad values, keys that cannot go together: tests/unit/test_s3_target.py (the same check, without a CLI)
    cases = {
        "no-bucket": ({"BucketName": "absent-bucket", "EndpointUrl": s3_server.url}, "the bucket does not exist"),
        "no-server": ({"BucketName": "b", "EndpointUrl": "http://127.0.0.1:9"}, "cannot reach http://127.0.0.1:9"),
    }
    for name, (settings, message) in cases.items():
        s3_endpoint(dms, name, **settings)
        failed = dms.dms("endpoint", "test", name, check=False)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode in (1, 2) and len(lines) == 1 and message in lines[0], (name, failed.stderr)


def test_a_folder_without_write_permission_is_one_line(dms, tmp_path):
    """Root writes anywhere a mode allows, so the folder is made immutable (chattr +i), which root obeys too."""
    import subprocess

    lake = tmp_path / "lake"
    lake.mkdir()
    if subprocess.run(["chattr", "+i", str(lake)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not allowed here (no CAP_LINUX_IMMUTABLE)")
    try:
        s3_endpoint(dms, "readonly", BucketName=f"file://{lake}")
        failed = dms.dms("endpoint", "test", "readonly", check=False)
    finally:
        subprocess.run(["chattr", "-i", str(lake)], check=True)
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and len(lines) == 1 and "no permission to write" in lines[0], failed.stderr
