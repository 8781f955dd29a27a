"""What `dms flower` and `dms worker` open to the network (no servers needed: refusals come first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.cli_ops import is_loopback

ROOT = Path(__file__).resolve().parents[2]


def dms(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    # A Redis that is not there: a refusal must come before any attempt to reach it.
    clean |= {"DMS_REDIS_URL": "redis://127.0.0.1:1/0", "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=clean | env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


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
def test_flower_beyond_loopback_with_a_login_goes_on(tmp_path: Path, login: dict[str, str]) -> None:
    """It gets past the check and on to Redis (absent here: exit 1, saying so)."""
    args = [login.pop("args")] if "args" in login else []
    if "config" in login:  # Flower reads flowerconfig.py from the working directory
        (tmp_path / "flowerconfig.py").write_text(login.pop("config") + "\n")
    proc = dms(tmp_path, "flower", "--address", "0.0.0.0", *args, **login)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0")


def test_flower_on_loopback_needs_no_login(tmp_path: Path) -> None:
    proc = dms(tmp_path, "flower")
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot reach Redis"), proc.stderr
