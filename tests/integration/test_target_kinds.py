"""`dms task create` against targets of each kind: settings the kind cannot honour are refused (exit 2)
or warned about, naming the setting (connectors/model/target_rules.py). The memory engine declares its
target of each kind with targetKind=...; it is never opened by `create`."""

from __future__ import annotations

import json

import pytest
from dms_env import execute

pytestmark = pytest.mark.integration


def test_create_refuses_or_warns_about_settings_the_target_kind_cannot_honour(dms, src):
    execute(src, "CREATE TABLE kinds (id int PRIMARY KEY, v text)")
    source = dms.endpoint(f"src-{dms.suffix}-kinds", "source", src)
    for kind in ("transactional", "keyed", "append"):
        dms.dms("endpoint", "create", f"mem-{kind}-{dms.suffix}", "--type", "target", "--engine", "memory",
                "--database", "kinds", "--extra", f"targetKind={kind}")
    mappings = dms.tmp / "kinds-mappings.json"
    mappings.write_text(json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1",
                                               "rule-action": "include",
                                               "object-locator": {"schema-name": "public", "table-name": "kinds"}}]}))
    settings = dms.tmp / "kinds-settings.json"
    settings.write_text(json.dumps({"TargetMetadata": {"BatchApplyEnabled": True}}))

    def create(kind: str):
        return dms.dms("task", "create", f"kinds-{kind}", "--source", source, "--target", f"mem-{kind}-{dms.suffix}",
                       "--instance", dms.instance, "--migration-type", "full-load-and-cdc",
                       "--table-mappings", str(mappings), "--settings", str(settings), check=False)

    refused = create("append")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: TargetMetadata.BatchApplyEnabled = true: target mem-append-{dms.suffix} (memory) is an append "
        "target; DMS does not support batch apply on stream and file targets (it can lose data): set it to false"]
    warned = create("keyed")
    assert warned.returncode == 0
    assert (f"warning: TargetMetadata.BatchApplyEnabled = true: target mem-keyed-{dms.suffix} (memory) is an "
            "idempotent keyed target") in warned.stderr
    fine = create("transactional")
    assert fine.returncode == 0 and "BatchApplyEnabled" not in fine.stderr
    tasks = dms.dms("task", "list").stdout
    assert "kinds-keyed" in tasks and "kinds-transactional" in tasks and "kinds-append" not in tasks

    dms.dms("endpoint", "create", f"mem-odd-{dms.suffix}", "--type", "target", "--engine", "memory",
            "--database", "kinds", "--extra", "targetKind=queue")
    odd = dms.dms("task", "create", "kinds-odd", "--source", source, "--target", f"mem-odd-{dms.suffix}",
                  "--instance", dms.instance, "--migration-type", "full-load", "--table-mappings", str(mappings),
                  check=False)
    assert odd.returncode == 2 and "targetKind=queue is not offered by engine memory: use one of" in odd.stderr
