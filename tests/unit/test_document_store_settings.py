"""`dms endpoint create --mongo-db-settings`, `--doc-db-settings` and `--dynamo-db-settings`: DMS's keys,
defaults, unknown keys refused naming the closest (the shared mechanism of connectors/settings_object.py),
and the values the connectors read."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from connectors.model.catalog import Catalog
from connectors.mongodb.connect import settings
from scheduler.cli import main


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DMS_CATALOG_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("DMS_SECRET_KEY_FILE", str(tmp_path / "secret.key"))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, list(args))
        return result.exit_code, result.output

    return run


def test_the_settings_are_kept_with_dms_defaults_for_the_rest(cli):
    code, out = cli("endpoint", "create", "m1", "--type", "source", "--engine", "mongodb", "--mongo-db-settings",
                    '{"ServerName": "db.example", "Port": 27018, "DatabaseName": "shop", "Username": "dms", '
                    '"Password": "s3cret", "NestingLevel": "one", "DocsToInvestigate": "50", "AuthSource": "users"}')
    assert code == 0, out
    ep = Catalog().endpoint("m1")
    assert (ep.host, ep.port, ep.database, ep.user, ep.password) == ("db.example", 27018, "shop", "dms", "s3cret")
    got = settings(ep)
    assert (got["NestingLevel"], got["DocsToInvestigate"], got["AuthSource"]) == ("one", 50, "users")
    assert (got["AuthType"], got["AuthMechanism"], got["ExtractDocId"]) == ("password", "default", False)


@pytest.mark.parametrize(("given", "error"), [
    ('{"NestingLevl": "one"}', "MongoDbSettings has no key 'NestingLevl': did you mean NestingLevel?"),
    ('{"NestingLevel": "two"}', "MongoDbSettings.NestingLevel 'two' is not one of none, one"),
    ('{"AuthMechanism": "scram_sha_256"}', "MongoDbSettings.AuthMechanism 'scram_sha_256' is not one of"),
    ('{"DocsToInvestigate": "many"}', "MongoDbSettings.DocsToInvestigate must be a whole number"),
])
def test_bad_settings_are_refused_in_one_line(cli, given, error):
    code, out = cli("endpoint", "create", "m2", "--type", "source", "--engine", "mongodb",
                    "--mongo-db-settings", given)
    assert code == 2 and error in out and len(out.strip().splitlines()) == 1, out


def test_docdb_is_the_same_engine_under_documentdbs_name_and_settings(cli):
    code, out = cli("endpoint", "create", "d1", "--type", "target", "--engine", "docdb", "--doc-db-settings",
                    '{"ServerName": "docdb.example", "Port": 27017, "DatabaseName": "app", "ExtractDocId": true}')
    assert code == 0, out
    assert settings(Catalog().endpoint("d1"))["ExtractDocId"] is True
    code, out = cli("endpoint", "create", "d2", "--type", "source", "--engine", "docdb", "--doc-db-settings",
                    '{"AuthSource": "admin"}')
    assert code == 2 and "DocDbSettings has no key 'AuthSource'" in out, out


def test_dynamodb_takes_dms_key_and_our_endpoint_url(cli):
    code, out = cli("endpoint", "create", "y1", "--type", "target", "--engine", "dynamodb", "--dynamo-db-settings",
                    '{"ServiceAccessRoleArn": "arn:aws:iam::1:role/r", "EndpointUrl": "http://127.0.0.1:4567"}')
    assert code == 0, out
    from connectors.registry import settings_object

    assert settings_object("dynamodb").values(Catalog().endpoint("y1"))["EndpointUrl"] == "http://127.0.0.1:4567"
    code, out = cli("endpoint", "create", "y2", "--type", "target", "--engine", "dynamodb",
                    "--dynamo-db-settings", '{"EndpointURL": "x"}')
    assert code == 2 and "did you mean EndpointUrl?" in out, out
