"""Endpoint passwords encrypted at rest: the key file, DMS_SECRET_KEY, old plain-text catalogs, rotation.

The CLI runs in this process on a SQLite catalog: nothing here needs a server.
"""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from connectors.base import Endpoint
from connectors.model import secret_key
from connectors.model.catalog import Catalog
from scheduler.cli import main

PASSWORD = "s3cret-Passw0rd-bytes"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in (secret_key.ENV_KEY, secret_key.ENV_KEY_FILE):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DMS_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    return tmp_path


def dms(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`dms ARGS` in this process (a subprocess each would take seconds): exit code, stdout, stderr."""
    result = CliRunner().invoke(main, list(args), env=env)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def create(endpoint_id: str, password: str = PASSWORD, **env: str) -> subprocess.CompletedProcess:
    proc = dms("endpoint", "create", endpoint_id, "--type", "source", "--engine", "postgres", "--host", "127.0.0.1",
               "--port", "1", "--user", "app", "--password-env", "EP_PASSWORD", EP_PASSWORD=password, **env)
    assert proc.returncode == 0, proc.stderr
    return proc


def stored(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "catalog.db") as conn:
        return dict(conn.execute("SELECT id, password FROM dms_endpoints"))


def key_file(home: Path) -> Path:
    return home / "data" / "opendms" / "secret.key"


def test_the_catalog_holds_no_password_bytes_and_the_key_file_is_private(home: Path) -> None:
    assert not key_file(home).exists()
    create("e1")
    assert PASSWORD.encode() not in (home / "catalog.db").read_bytes()
    assert stored(home)["e1"].startswith("fernet:")
    assert stat.S_IMODE(key_file(home).stat().st_mode) == 0o600  # made on first use
    assert Catalog().endpoint("e1").password == PASSWORD
    assert "e1" in dms("endpoint", "list").stdout  # listing needs no key


def test_an_empty_password_makes_no_key(home: Path) -> None:
    Catalog().add_endpoint(Endpoint("lite", "source", "sqlite", database=str(home / "x.db")))
    assert stored(home)["lite"] == "" and not key_file(home).exists()


def test_a_missing_key_is_one_line_naming_it(home: Path) -> None:
    create("e1")
    key_file(home).unlink()
    proc = dms("endpoint", "test", "e1")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: the password of endpoint e1 is encrypted and no key is given: set "
                                  "DMS_SECRET_KEY to the key it was encrypted with, or DMS_SECRET_KEY_FILE")
    assert str(key_file(home)) in proc.stderr


def test_a_wrong_key_is_one_line_naming_where_it_came_from(home: Path) -> None:
    create("e1")
    proc = dms("endpoint", "test", "e1", DMS_SECRET_KEY=Fernet.generate_key().decode())
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: cannot decrypt the password of endpoint e1 with DMS_SECRET_KEY: it was "
                                  "encrypted with another key")
    other = home / "other.key"
    other.write_text(Fernet.generate_key().decode() + "\n")
    proc = dms("endpoint", "test", "e1", DMS_SECRET_KEY_FILE=str(other))
    assert proc.returncode == 2 and f"with the key file {other}: it was encrypted with another key" in proc.stderr


def test_a_malformed_key_is_one_line(home: Path) -> None:
    proc = dms("endpoint", "create", "e1", "--type", "source", "--engine", "postgres", "--password", "x",
               DMS_SECRET_KEY="change-me")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: DMS_SECRET_KEY is not a valid key (32 url-safe base64-encoded bytes): "
                                  "`dms secrets generate-key` prints one")
    assert "e1" not in stored(home)


def test_the_key_from_the_environment_and_its_file(home: Path) -> None:
    key = dms("secrets", "generate-key").stdout.strip()
    create("e1", DMS_SECRET_KEY=key)
    assert not key_file(home).exists(), "DMS_SECRET_KEY given: no key file is made"
    assert secret_key.decrypt(stored(home)["e1"], "e1", secret_key._parse(key, "test", True)) == PASSWORD
    custom = home / "keys" / "dms.key"
    create("e2", DMS_SECRET_KEY_FILE=str(custom))
    assert stat.S_IMODE(custom.stat().st_mode) == 0o600 and not key_file(home).exists()


def test_plain_text_passwords_of_an_older_catalog_are_read_then_encrypted_by_rotate(home: Path) -> None:
    create("new")
    with sqlite3.connect(home / "catalog.db") as conn:  # as OpenDMS 0.1 wrote them
        conn.execute("INSERT INTO dms_endpoints SELECT 'old', kind, engine, host, port, database, username, "
                     "'plain-old-password', ssl_mode, extra, created_at FROM dms_endpoints WHERE id = 'new'")
    assert Catalog().endpoint("old").password == "plain-old-password"
    proc = create("another")
    assert "warning: the password of endpoint(s) old is stored in plain text" in proc.stderr
    before = key_file(home).read_text()
    proc = dms("secrets", "rotate")
    assert proc.returncode == 0, proc.stderr
    assert "3 password(s) re-encrypted with it (1 of them were plain text)" in proc.stdout
    assert b"plain-old-password" not in (home / "catalog.db").read_bytes()
    after = key_file(home).read_text()
    assert after != before and len(after.split()) == 1 and stat.S_IMODE(key_file(home).stat().st_mode) == 0o600
    assert {e.id: e.password for e in Catalog().endpoints()} == {
        "another": PASSWORD, "new": PASSWORD, "old": "plain-old-password"}
    old_keys = secret_key._parse(before, "the old key", False)
    with pytest.raises(secret_key.SecretKeyError):  # the old key opens nothing any more
        secret_key.decrypt(stored(home)["new"], "new", old_keys)


def test_rotate_with_keys_from_the_environment(home: Path) -> None:
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    create("e1", DMS_SECRET_KEY=k1)
    proc = dms("secrets", "rotate", DMS_SECRET_KEY=f"{k2},{k1}")
    assert proc.returncode == 0 and "1 password(s) re-encrypted with the first key of DMS_SECRET_KEY" in proc.stdout
    assert "drop them" in proc.stderr
    # K2 alone reads it now; K1 alone does not.
    assert dms("endpoint", "test", "e1", DMS_SECRET_KEY=k1).returncode == 2
    proc = dms("endpoint", "test", "e1", DMS_SECRET_KEY=k2)
    assert "cannot decrypt" not in proc.stderr and "no key" not in proc.stderr
    proc = dms("secrets", "rotate", DMS_SECRET_KEY=k2)
    assert proc.returncode == 0 and "to change the key itself" in proc.stderr


def test_rotate_that_meets_a_password_no_key_opens_changes_nothing(home: Path) -> None:
    create("e1")
    with sqlite3.connect(home / "catalog.db") as conn:
        token = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
        conn.execute("UPDATE dms_endpoints SET password = ?", ("fernet:" + token,))
    before = stored(home)
    proc = dms("secrets", "rotate")
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot decrypt the password of endpoint e1")
    assert stored(home) == before
