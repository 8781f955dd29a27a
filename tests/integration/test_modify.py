"""DMS's ModifyEndpoint and ModifyReplicationTask: a wrong password is fixed in place, a stopped task takes
new settings and mappings, and nothing is changed under a running task."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from dms_env import SELECT_ALL, converged, execute, wait_for

pytestmark = pytest.mark.integration


def test_modify_endpoint_and_task(dms, src, dst, tmp_path):
    execute(src, "CREATE TABLE a (id int PRIMARY KEY, t text)", "CREATE TABLE b (id int PRIMARY KEY, t text)",
            "INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 500) g",
            "INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, 300) g")
    u = urlsplit(src)
    name = f"msrc-{dms.suffix}"
    dms.dms("endpoint", "create", name, "--type", "source", "--engine", "postgres", "--host", u.hostname,
            "--port", str(u.port), "--database", u.path.lstrip("/"), "--user", u.username, "--password", "wrong")
    failed = dms.dms("endpoint", "test", name, check=False)
    assert failed.returncode == 2 and "authentication failed" in failed.stderr
    # the password fixed in place: no need to delete the endpoint and every task that uses it
    fixed = dms.dms("endpoint", "modify", name, "--password-env", "SRC_PW", check=False,
                    env_extra={"SRC_PW": u.password})
    assert fixed.returncode == 0, fixed.stderr
    assert "OK: connected" in dms.dms("endpoint", "test", name).stdout
    assert dms.dms("endpoint", "modify", name, check=False).stderr.startswith("error: nothing to change on endpoint")

    only_a = {"rules": [{**SELECT_ALL["rules"][0], "object-locator": {"schema-name": "public", "table-name": "a"}}]}
    target = dms.endpoint(f"mdst-{dms.suffix}", "target", dst)
    mapping = tmp_path / "only-a.json"
    mapping.write_text(json.dumps(only_a))
    task = "modified"
    dms.dms("task", "create", task, "--source", name, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load-and-cdc", "--table-mappings", str(mapping))
    dms.start_worker()
    dms.dms("task", "start", task)
    dms.wait_live(task)
    busy = dms.dms("endpoint", "modify", name, "--host", "127.0.0.1", check=False)
    assert busy.returncode == 2 and f"is used by task {task}, which is running: stop it first" in busy.stderr
    busy = dms.dms("task", "modify", task, "--table-mappings", str(mapping), check=False)
    assert busy.returncode == 2 and f"task {task} is running: stop it first" in busy.stderr
    dms.dms("task", "stop", task)

    # new settings: the run resumes with them
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"ChangeProcessingTuning": {"BatchSplitSize": 500}}))
    assert "task modified modified" in dms.dms("task", "modify", task, "--settings", str(settings)).stdout
    execute(src, "UPDATE a SET t = 'while stopped' WHERE id <= 10")
    dms.dms("task", "start", task)  # resume-processing
    wait_for(lambda: converged(src, dst, "a"), 60, "the resumed task to apply what changed while it was stopped")
    dms.dms("task", "stop", task)

    # new mappings: the run cannot go on with them; a reload takes them
    mapping.write_text(json.dumps(SELECT_ALL))
    out = dms.dms("task", "modify", task, "--table-mappings", str(mapping)).stdout
    assert "its table mappings changed since it ran" in out
    refused = dms.dms("task", "start", task, check=False)
    assert refused.returncode == 2 and "--type reload-target" in refused.stderr
    dms.dms("task", "start", task, "--type", "reload-target")
    dms.wait_live(task)
    wait_for(lambda: converged(src, dst, "a") and converged(src, dst, "b"), 60, "both tables on the target")
    stats = dms.stats(task)
    assert stats["public.b"]["FullLoadRows"] == 300 and stats["public.a"]["FullLoadRows"] == 500
    dms.dms("task", "stop", task)
