"""DMS settings objects on `dms endpoint create` (--redis-settings, ...): DMS's keys, JSON or file://PATH,
unknown keys refused naming the closest, the secret stored encrypted like a password, describe without it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from connectors.model.catalog import Catalog, endpoints_table
from connectors.registry import settings_object
from scheduler.cli import main

SETTINGS = {"ServerName": "cache.example", "Port": 6380, "SslSecurityProtocol": "ssl-encryption",
            "SslCaCertificateArn": "/etc/ssl/ca.pem", "AuthType": "auth-role", "AuthUserName": "dms",
            "AuthPassword": "pa55-word"}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("DMS_CATALOG_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("DMS_SECRET_KEY_FILE", str(tmp_path / "secret.key"))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, list(args))
        return result.exit_code, result.output

    return run


def test_settings_are_kept_on_the_endpoint_and_the_secret_encrypted(cli, tmp_path):
    (tmp_path / "redis.json").write_text(json.dumps(SETTINGS))
    code, out = cli("endpoint", "create", "r1", "--type", "target", "--engine", "redis",
                    "--redis-settings", f"file://{tmp_path / 'redis.json'}")
    assert code == 0, out
    ep = Catalog().endpoint("r1")
    assert (ep.host, ep.port, ep.user, ep.password) == ("cache.example", 6380, "dms", "pa55-word")
    assert settings_object("redis").values(ep) == SETTINGS
    with Catalog().engine.connect() as conn:
        stored = conn.execute(endpoints_table.select()).mappings().one()
    assert "pa55-word" not in json.dumps(dict(stored), default=str)  # encrypted like any password
    code, out = cli("endpoint", "describe", "r1")
    shown = json.loads(out)["Endpoint"]["RedisSettings"]
    assert shown == {k: v for k, v in SETTINGS.items() if k != "AuthPassword"}


def test_defaults_fill_what_is_not_given(cli):
    code, out = cli("endpoint", "create", "r2", "--type", "target", "--engine", "redis",
                    "--redis-settings", '{"ServerName": "h"}')
    assert code == 0, out
    assert settings_object("redis").values(Catalog().endpoint("r2"))["Port"] == 6379
    assert settings_object("redis").values(Catalog().endpoint("r2"))["SslSecurityProtocol"] == "ssl-encryption"


@pytest.mark.parametrize(("given", "error"), [
    ('{"ServerNmae": "h"}', "RedisSettings has no key 'ServerNmae': did you mean ServerName?"),
    ('{"Port": "six"}', "RedisSettings.Port must be a whole number, not \"six\""),
    ('{"Port": 70000}', "RedisSettings.Port 70000 is not a TCP port"),
    ('{"AuthType": "password"}', "RedisSettings.AuthType 'password' is not one of none, auth-token, auth-role"),
    ('["ServerName"]', "--redis-settings: a JSON object is needed"),
    ("{ServerName: h}", "--redis-settings: not a JSON object"),
    ("file:///nonexistent/redis.json", "--redis-settings /nonexistent/redis.json: cannot read it"),
])
def test_bad_settings_are_refused_in_one_line(cli, given, error):
    code, out = cli("endpoint", "create", "r3", "--type", "target", "--engine", "redis", "--redis-settings", given)
    assert code == 2 and error in out and len(out.strip().splitlines()) == 1, out


def test_a_settings_object_of_another_engine_is_refused(cli):
    code, out = cli("endpoint", "create", "p1", "--type", "target", "--engine", "sqlite", "--database", "x.db",
                    "--redis-settings", '{"ServerName": "h"}')
    assert code == 2 and "--redis-settings is for engine redis, not sqlite: remove it" in out, out
