"""What `dms flower` and `dms worker` open to the network (no servers needed: refusals come first)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import flower.options  # noqa: F401  (defines Flower's options in tornado's registry)
import pytest
from click.testing import CliRunner
from tornado.options import options as flower_options

from scheduler.cli import main
from scheduler.cli_ops import check_flower_exposure, is_loopback


@pytest.fixture(autouse=True)
def flower_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Flower's options live in tornado's process-wide registry: each test starts from, and leaves, the defaults."""
    saved = {name: option._value for name, option in flower_options._options.items()}
    monkeypatch.chdir(tmp_path)  # Flower reads flowerconfig.py from the working directory
    yield
    for name, value in saved.items():
        flower_options._options[name]._value = value


def dms(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`dms ARGS` in this process, with no FLOWER_* variable but `env`'s and a Redis that is not there: a
    refusal must come before any attempt to reach it."""
    unset = {k: None for k in os.environ if k.startswith("FLOWER_")}
    env = {**unset, "DMS_REDIS_URL": "redis://127.0.0.1:1/0", "XDG_DATA_HOME": str(tmp_path), **env}
    result = CliRunner().invoke(main, list(args), env=env)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "", "::", "10.1.2.3", "192.168.0.1", "example.org"])
def test_addresses_beyond_this_machine(address: str) -> None:
    assert not is_loopback(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "::"])
def test_flower_beyond_loopback_without_a_login_refuses_to_start(tmp_path: Path, address: str) -> None:
    proc = dms(tmp_path, "flower", "--address", address)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: flower --address {address} ")
    assert "FLOWER_BASIC_AUTH" in proc.stderr and "Traceback" not in proc.stderr


def test_flower_address_given_as_flowers_own_option_is_checked_too(tmp_path: Path) -> None:
    proc = dms(tmp_path, "flower", "--address=127.0.0.1", "--address=0.0.0.0")
    assert proc.returncode == 2 and "FLOWER_BASIC_AUTH" in proc.stderr


@pytest.mark.parametrize("login", [
    {"FLOWER_BASIC_AUTH": "admin:secret"},
    {"FLOWER_AUTH": ".*@example\\.org"},
    {"args": "--basic-auth=admin:secret"},
    {"args": "--basic_auth=admin:secret"},
    {"config": "basic_auth = ['admin:secret']"},
])
def test_flower_beyond_loopback_with_a_login_passes_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               login: dict[str, str]) -> None:
    login = dict(login)
    for name in [k for k in os.environ if k.startswith("FLOWER_")]:
        monkeypatch.delenv(name)
    args = [login.pop("args")] if "args" in login else []
    if "config" in login:
        (tmp_path / "flowerconfig.py").write_text(login.pop("config") + "\n")
    for name, value in login.items():
        monkeypatch.setenv(name, value)
    check_flower_exposure(["--port=5555", "--address=0.0.0.0", *args])  # no ConfigError


def test_flower_on_loopback_needs_no_login(tmp_path: Path) -> None:
    """It gets past the check and on to Redis (absent here: exit 1, saying so)."""
    proc = dms(tmp_path, "flower")
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot reach Redis"), proc.stderr
