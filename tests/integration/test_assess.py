"""`dms task assess`: DMS's premigration assessment, against real servers."""

from __future__ import annotations

import json

import pytest
from dms_env import execute

pytestmark = pytest.mark.integration


def test_assessment_names_what_would_fail_or_change(dms, src, dst):
    execute(src, "CREATE TABLE docs (id int PRIMARY KEY, body text, tags int[])",
            "INSERT INTO docs VALUES (1, repeat('x', 40000), '{1,2}'), (2, 'short', NULL)",
            "CREATE TABLE nokey (a int, b text)", "INSERT INTO nokey VALUES (1, 'one')")
    dms.task("judged", src, dst, "full-load-and-cdc",
             settings={"TargetMetadata": {"LimitedSizeLobMode": True, "LobMaxSize": 32}})
    out = dms.dms("task", "assess", "judged", check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    doc = dms.dms("task", "assess", "judged", "--json", check=False)
    results = {r["Name"]: r for r in json.loads(doc.stdout)["Results"]}
    assert json.loads(doc.stdout)["PremigrationAssessmentStatus"] == "failed"
    assert results["endpoints: connections and rights"]["Status"] == "passed"
    assert results["source: ready for change data capture"]["Status"] == "passed"
    keys = results["tables without a primary key"]
    assert keys["Status"] == "failed" and any("public.nokey" in d and "REPLICA IDENTITY FULL" in d
                                              for d in keys["Details"])
    lobs = results["LOB columns against the LOB settings"]
    assert lobs["Status"] == "failed"
    assert any("public.docs.body: largest value 40,000 bytes, over 32 KB" in d for d in lobs["Details"]), lobs

    # the same tables, fixed: a key, and LOBs migrated whole
    execute(src, "ALTER TABLE nokey ADD PRIMARY KEY (a)")
    dms.task("judged2", src, dst, "full-load-and-cdc")
    fine = dms.dms("task", "assess", "judged2")
    assert fine.returncode == 0 and fine.stdout.strip().endswith("assessment passed"), fine.stdout
