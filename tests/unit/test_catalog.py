"""The catalog on a SQLite file, and the CLI's one-line errors, with no servers."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from connectors.base import Endpoint
from connectors.errors import ConfigError
from scheduler.catalog import Catalog, TaskDef, catalog_url
from scheduler.cli import main

SELECT_ALL = {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
              "object-locator": {"schema-name": "%", "table-name": "%"}}
MAPPINGS = json.dumps({"rules": [SELECT_ALL]})


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> Catalog:
    monkeypatch.setenv("DMS_CATALOG_URL", f"sqlite:///{tmp_path / 'c.db'}")
    return Catalog()


def test_definitions_round_trip_and_the_file_is_private(catalog, tmp_path):
    ep = Endpoint("src", "source", "postgres", "db", 5432, "app", "u", "s3cret", "require", {"slotName": "s"})
    catalog.add_endpoint(ep)
    assert catalog.endpoint("src") == ep
    catalog.add_instance("ri1")
    catalog.add_task(TaskDef("t1", "src", "src", "ri1", "full-load", MAPPINGS))
    assert [t.id for t in catalog.tasks()] == ["t1"] and catalog.task("t1").full_load
    assert stat.S_IMODE((tmp_path / "c.db").stat().st_mode) == 0o600  # it holds passwords
    with pytest.raises(ConfigError, match="already exists"):
        catalog.add_endpoint(ep)
    with pytest.raises(ConfigError, match="used by task"):
        catalog.delete_endpoint("src")
    catalog.delete_task("t1")
    catalog.delete_endpoint("src")
    with pytest.raises(ConfigError, match="endpoint src does not exist"):
        catalog.endpoint("src")


def test_postgres_catalog_urls_use_the_shipped_driver(monkeypatch):
    monkeypatch.setenv("DMS_CATALOG_URL", "postgresql://u:p@h/db")
    assert catalog_url() == "postgresql+psycopg2://u:p@h/db"
    monkeypatch.setenv("DMS_CATALOG_URL", "postgresql+psycopg2://u:p@h/db")
    assert catalog_url() == "postgresql+psycopg2://u:p@h/db"


def _run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env)
    return result.exit_code, result.output


def test_cli_errors_are_one_line_with_exit_codes(tmp_path):
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.db'}", "DMS_REDIS_URL": ""}
    code, out = _run(["endpoint", "test", "nope"], env)
    assert code == 2 and out.strip() == "error: endpoint nope does not exist: see `dms endpoint list`"
    code, out = _run(["endpoint", "create", "src", "--type", "source", "--engine", "postgres",
                      "--password-env", "NOT_SET_ANYWHERE"], env)
    assert code == 2 and "NOT_SET_ANYWHERE" in out and len(out.strip().splitlines()) == 1
    code, out = _run(["endpoint", "create", "src", "--type", "source", "--engine", "postgres", "--extra", "oops"], env)
    assert code == 2 and "k1=v1;k2=v2" in out
    code, out = _run(["task", "describe", "t1"], {**env, "DMS_CATALOG_URL": "foo://x"})
    assert code == 2 and out.startswith("error: catalog URL foo://x is not usable")
    assert "Traceback" not in out


def test_an_unreachable_redis_is_named_without_its_password(tmp_path):
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.db'}", "DMS_REDIS_URL": "redis://:s3cret@127.0.0.1:1/0"}
    assert _run(["instance", "create", "ri1"], env)[0] == 0
    code, out = _run(["instance", "list"], env)  # asks Redis for the instance's live workers
    assert code == 1 and out.startswith("error: cannot reach Redis at redis://:***@127.0.0.1:1/0")
    assert "s3cret" not in out


def test_cli_create_validates_before_storing(tmp_path):
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert _run(["endpoint", "create", "src", "--type", "source", "--engine", "postgres", "--password", "x"],
                env)[0] == 0
    assert _run(["endpoint", "create", "dst", "--type", "target", "--engine", "postgres", "--password", "x"],
                env)[0] == 0
    assert _run(["instance", "create", "RI1"], env)[0] == 0  # stored lower-case, like DMS
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, out = _run(["task", "create", "t1", "--source", "src", "--target", "dst", "--instance", "ri1",
                      "--migration-type", "full-load", "--table-mappings", str(bad)], env)
    assert code == 2 and "table mappings is not valid JSON" in out
    good = tmp_path / "good.json"
    good.write_text(MAPPINGS)
    code, out = _run(["task", "create", "t1", "--source", "src", "--target", "dst", "--instance", "ri1",
                      "--migration-type", "full-load", "--table-mappings", str(good), "--cdc-start-position", "0/1"],
                     env)
    assert code == 2 and "--cdc-start-position goes with --migration-type cdc" in out
    code, out = _run(["task", "create", "t1", "--source", "src", "--target", "dst", "--instance", "ri1",
                      "--migration-type", "full-load", "--table-mappings", str(good)], env)
    assert code == 0, out
    code, out = _run(["endpoint", "describe", "src"], env)
    assert code == 0 and "x" not in json.loads(out)["Endpoint"].values() and "Password" not in out


def test_identifiers_are_case_insensitive(tmp_path):
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'case.db'}"}
    assert _run(["endpoint", "create", "Src-A", "--type", "source", "--engine", "postgres", "--password", "x"],
                env)[0] == 0
    code, out = _run(["endpoint", "describe", "SRC-a"], env)
    assert code == 0 and json.loads(out)["Endpoint"]["EndpointIdentifier"] == "src-a"
    code, out = _run(["endpoint", "create", "src-a", "--type", "source", "--engine", "postgres", "--password", "x"],
                     env)
    assert code == 2 and "already exists" in out
