"""The catalog on a SQLite file, and the CLI's one-line errors, with no servers."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from connectors.base import Endpoint
from connectors.errors import ConfigError
from connectors.model.catalog import Catalog, TaskDef, catalog_url
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
    assert code == 2 and out == f"error: table mappings file {bad} is not valid JSON: Expecting property name " \
        "enclosed in double quotes at line 1 column 2\n"
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


def _one_line(out: str) -> str:
    assert len(out.splitlines()) == 1 and "Traceback" not in out, out
    return out.strip()


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_a_port_outside_1_to_65535_is_refused(tmp_path, port):
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    code, out = _run(["endpoint", "create", "src", "--type", "source", "--engine", "postgres", "--password", "x",
                      f"--port={port}"], env)
    assert code == 2 and _one_line(out) == f"error: --port {port} is not a TCP port: give a number from 1 to 65535"
    assert _run(["endpoint", "list"], env) == (0, "")
    code, _ = _run(["endpoint", "create", "src", "--type", "source", "--engine", "postgres", "--password", "x",
                    "--port", "65535"], env)
    assert code == 0


def _task_env(tmp_path) -> dict[str, str]:
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    for name, kind in (("src", "source"), ("dst", "target")):  # port 1: nothing listens, the rules wait for start
        assert _run(["endpoint", "create", name, "--type", kind, "--engine", "postgres", "--password", "x",
                     "--port", "1"], env)[0] == 0
    assert _run(["instance", "create", "ri1"], env)[0] == 0
    return env


def _create(env: dict[str, str], mappings: object, settings: object = None) -> tuple[int, str]:
    args = ["task", "create", "t1", "--source", "src", "--target", "dst", "--instance", "ri1",
            "--migration-type", "full-load", "--table-mappings", str(mappings)]
    code, out = _run(args + (["--settings", str(settings)] if settings else []), env)
    return code, "\n".join(line for line in out.splitlines() if not line.startswith("warning: rules not checked"))


def test_empty_documents_are_refused_naming_the_file(tmp_path):
    env = _task_env(tmp_path)
    empty, blank, good = tmp_path / "empty.json", tmp_path / "blank.json", tmp_path / "good.json"
    empty.write_text("")
    blank.write_text("  \n")
    good.write_text(MAPPINGS)
    code, out = _create(env, good, empty)
    assert code == 2 and _one_line(out) == (f"error: task settings file {empty} is empty: give a JSON object, {{}} "
                                            "for DMS's defaults")
    code, out = _create(env, empty)
    assert code == 2 and _one_line(out) == (f"error: table mappings file {empty} is empty: give a JSON object "
                                            '{"rules": [...]} with a selection rule')
    assert _create(env, blank)[0] == 2
    assert _run(["task", "list"], env) == (0, "")
    (tmp_path / "defaults.json").write_text("{}")
    code, out = _create(env, good, tmp_path / "defaults.json")
    assert code == 0, out


def test_a_json_syntax_error_names_the_file_line_and_column(tmp_path):
    env = _task_env(tmp_path)
    good, settings = tmp_path / "good.json", tmp_path / "settings.json"
    good.write_text(MAPPINGS)
    settings.write_text('{\n  "FullLoadSettings": {\n    "CommitRate": 5000,\n  }\n}\n')
    code, out = _create(env, good, settings)
    assert code == 2 and _one_line(out) == (f"error: task settings file {settings} is not valid JSON: Expecting "
                                            "property name enclosed in double quotes at line 4 column 3")


@pytest.mark.parametrize(("url", "why"), [
    ("http://:s3cret@h:6379/0", "Redis URL must specify one of the following schemes"),
    ("redis://:s3cret@h:port/0", "Port could not be cast to integer value as 'port'"),
    ("redis://u:s3cret@h:99999/0", "Port out of range"),
    ("s3cret", "Redis URL must specify"),
])
def test_a_malformed_redis_url_is_a_configuration_error(tmp_path, url, why):
    env = {"DMS_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.db'}", "DMS_REDIS_URL": url}
    assert _run(["instance", "create", "ri1"], env)[0] == 0
    code, out = _run(["instance", "list"], env)
    line = _one_line(out)
    assert code == 2 and line.startswith("error: DMS_REDIS_URL ") and why in line
    assert "is not a Redis URL" in line and "redis://[[user]:password@]host:port/db" in line
    assert "s3cret" not in line or url == "s3cret"


def test_a_mapping_file_over_dms_s_2_mb_is_refused_naming_the_limit(tmp_path):
    env = _task_env(tmp_path)
    big = tmp_path / "big.json"
    big.write_text(MAPPINGS[:-1] + " " * (3 * 2**20) + "}")
    code, out = _create(env, big)
    assert code == 2 and _one_line(out).startswith(f"error: table mappings file {big} is 3.0 MB: DMS takes table "
                                                   "mappings of at most 2 MB (2,097,152 bytes)")
    assert _run(["task", "list"], env) == (0, "")
