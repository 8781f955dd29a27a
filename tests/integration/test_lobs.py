"""LOBs on real servers: without LOB settings a 100 KB text and a 100 KB bytea arrive whole, in the full load and
in CDC, and validate as identical; limited LOB mode cuts them as DMS does, says so in describe, stats and a
foreground start's summary, and `dms task validate` reports the cut rows as cut by the setting and exits 1."""

from __future__ import annotations

import json
import sqlite3

import pytest
from dms_env import SQLITE, DmsEnv, converged, execute, rows, wait_for

pytestmark = pytest.mark.integration

BIG = 100 * 1024
DOCS = "CREATE TABLE docs (id int PRIMARY KEY, body text, data bytea)"
# 100 KB of text and 100 KB of bytes that are not all one byte, so a cut anywhere shows
FILL = (f"INSERT INTO docs VALUES ({{id}}, substr(repeat(md5('{{id}}'), {BIG // 32 + 1}), 1, {BIG}), "
        f"substring(decode(repeat(md5('b{{id}}'), {BIG // 16 + 1}), 'hex') FROM 1 FOR {BIG}))")
LIMITED = {"TargetMetadata": {"LimitedSizeLobMode": True, "LobMaxSize": 32}}
CAUSE = "LimitedSizeLobMode cut values over LobMaxSize=32 KB"


def lengths(url: str) -> list[tuple]:
    return [(i, len(b), len(bytes(d))) for i, b, d in rows(url, "docs")]


def test_without_lob_settings_lobs_arrive_whole_and_validate_identical(dms, src, dst):
    execute(src, DOCS, FILL.format(id=1), "INSERT INTO docs VALUES (2, 'small', '\\x00')")
    dms.start_live("whole", src, dst)
    execute(src, FILL.format(id=3))  # by CDC
    wait_for(lambda: converged(src, dst, "docs"), 60, "the CDC row to arrive")
    assert lengths(dst) == [(1, BIG, BIG), (2, 5, 1), (3, BIG, BIG)]
    assert rows(dst, "docs") == rows(src, "docs")
    doc = dms.describe("whole")
    assert doc["Warnings"] == []
    assert '"FullLobMode": true' in doc["ReplicationTaskSettings"]  # the effective settings say what happens
    assert "warning" not in dms.dms("task", "describe", "whole").stdout
    assert "LobTruncations" not in dms.stats("whole")["public.docs"]
    proc = dms.dms("task", "validate", "whole")
    assert "source and target are identical (1 tables)" in proc.stdout


def test_limited_lob_mode_cuts_says_so_and_validate_reports_the_cut_rows(dms, src, dst):
    execute(src, DOCS, FILL.format(id=1), "INSERT INTO docs VALUES (2, 'small', '\\x00')")
    dms.start_live("limited", src, dst, settings=LIMITED)
    execute(src, FILL.format(id=3))
    wait_for(lambda: [r[0] for r in rows(dst, "docs")] == [1, 2, 3], 60, "the CDC row to arrive")
    assert lengths(dst) == [(1, 32768, 32768), (2, 5, 1), (3, 32768, 32768)]
    source = {r[0]: r for r in rows(src, "docs")}
    for i, body, data in rows(dst, "docs"):
        assert (body, bytes(data)) == (source[i][1][:32768], bytes(source[i][2])[:32768])

    stats = wait_for(lambda: (s := dms.stats("limited")["public.docs"])["LobTruncations"] == 4 and s, 30,
                     "the cut values to be counted")  # two rows, each a text and a bytea value
    (warning,) = dms.describe("limited")["Warnings"]
    assert warning == ("limited LOB mode: text and binary values over LobMaxSize=32 KB are cut "
                       "(TargetMetadata.LimitedSizeLobMode; 4 values cut so far)")
    assert f"warning: {warning}" in dms.dms("task", "describe", "limited").stdout
    plain = dms.dms("task", "stats", "limited").stdout
    assert "LOB values cut: 4" in plain and f"warning: {warning}" in plain

    proc = dms.dms("task", "validate", "limited", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "identical" not in proc.stdout
    assert f"2 rows differ because {CAUSE}: [1], [3]" in proc.stdout
    assert "source and target differ: 2 records, 2 of them only because LOB settings cut values" in proc.stdout
    as_json = dms.dms("task", "validate", "limited", "--json", check=False)
    assert as_json.returncode == 1

    doc = json.loads(as_json.stdout)
    (table,) = doc["Tables"]
    assert (doc["Equal"], doc["CutBySettings"]) == (False, 2)
    assert (table["ValidationState"], table["ValidationFailedRecords"], table["Cut"], table["Different"]) == (
        "Mismatched records", 2, [[1], [3]], [])
    assert table["CutBySettingsReason"] == f"2 rows differ because {CAUSE}"
    stats = dms.stats("limited")["public.docs"]
    assert stats["ValidationState"] == "Mismatched records" and stats["ValidationFailedRecords"] == 2
    assert stats["ValidationStateDetails"] == f"2 mismatched records; 2 rows differ because {CAUSE}"

    # A row changed on the target as well is a plain difference, not one the setting explains.
    execute(dst, "UPDATE docs SET body = 'changed' WHERE id = 2")
    proc = dms.dms("task", "validate", "limited", check=False)
    assert proc.returncode == 1 and "    different: [2]" in proc.stdout
    assert f"2 rows differ because {CAUSE}: [1], [3]" in proc.stdout


def test_validation_job_reports_rows_cut_by_a_table_rule(dms, src, dst):
    execute(src, DOCS, FILL.format(id=1), "INSERT INTO docs VALUES (2, 'small', '\\x00')")
    rules = {"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": "public", "table-name": "%"}},
        {"rule-type": "table-settings", "rule-id": "2", "rule-name": "2",
         "object-locator": {"schema-name": "public", "table-name": "docs"},
         "lob-settings": {"mode": "limited", "bulk-max-size": "64"}}]}
    dms.task("rule", src, dst, "full-load", mappings=rules, settings={"ValidationSettings": {"EnableValidation": True}})
    dms.start_worker()
    dms.dms("task", "start", "rule")
    stats = wait_for(lambda: (s := dms.stats("rule")["public.docs"])["ValidationState"] == "Mismatched records" and s,
                     90, "the table's validation")
    assert lengths(dst) == [(1, 65536, 65536), (2, 5, 1)]
    cause = "table-settings rule 2 (lob-settings limited) cut values over bulk-max-size=64 KB"
    assert stats["ValidationFailedRecords"] == 1
    assert stats["ValidationStateDetails"] == f"1 records failed (1 row differs because {cause}: [1])"
    (warning,) = dms.wait_status("rule", "stopped")["Warnings"]
    assert warning == ("limited LOB mode for public.docs: text and binary values over bulk-max-size=64 KB are cut "
                       "(table-settings rule 2 (lob-settings limited); 2 values cut so far)")
    view = dms.dms("task", "watch", "rule").stdout  # a stopped task: one view, then it ends
    assert "warning: limited LOB mode for public.docs" in view and "64 KB" in view


@pytest.mark.parametrize("settings", [None, LIMITED])
def test_sqlite_foreground_start_says_what_it_cut(tmp_path, settings):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, data BLOB)")
    conn.execute("INSERT INTO docs VALUES (1, ?, ?)", ("t" * BIG, bytes(range(256)) * (BIG // 256)))
    conn.commit()
    conn.close()
    dms = DmsEnv(tmp_path, None)  # embedded: `dms task start` runs the full load itself and prints a summary
    try:
        dms.task("fg", f"{SQLITE}{src}", f"{SQLITE}{dst}", "full-load", settings=settings)
        plan = dms.dms("task", "create", "plan", "--source", f"src-{dms.suffix}-fg", "--target", f"dst-{dms.suffix}-fg",
                       "--instance", dms.instance, "--migration-type", "full-load", "--dry-run",
                       "--table-mappings", str(tmp_path / "fg-mappings.json"),
                       *(["--settings", str(tmp_path / "fg-settings.json")] if settings else []))
        out = dms.dms("task", "start", "fg").stdout
        ((body, data),) = sqlite3.connect(dst).execute("SELECT body, data FROM docs").fetchall()
        validate = dms.dms("task", "validate", "fg", check=False)
        if settings is None:
            assert (len(body), len(data)) == (BIG, BIG)
            assert "warning" not in out and "LOB values" not in plan.stdout and "LOB mode" not in plan.stderr
            assert validate.returncode == 0 and "identical" in validate.stdout
        else:
            assert (len(body), len(data)) == (32768, 32768)
            assert ("warning: limited LOB mode: text and binary values over LobMaxSize=32 KB are cut "
                    "(TargetMetadata.LimitedSizeLobMode; 2 values cut so far)") in out
            assert validate.returncode == 1 and f"1 row differs because {CAUSE}: [1]" in validate.stdout
            assert ("warning: limited LOB mode: text and binary values over LobMaxSize=32 KB will be cut "
                    "(TargetMetadata.LimitedSizeLobMode); leave the LOB keys out, or set FullLobMode, to migrate "
                    "them whole") in plan.stderr
            assert "LOB values over 32 KB are cut (LimitedSizeLobMode, LobMaxSize=32)" in plan.stdout
    finally:
        dms.close()
