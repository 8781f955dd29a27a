"""Engines are found by convention, and opening one never imports another's driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors import registry
from connectors.base import Endpoint
from connectors.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_every_engine_package_is_found_with_its_port() -> None:
    assert {"postgres", "sqlite"} <= set(registry.ENGINES)
    assert registry.default_port("postgres") == 5432 and registry.default_port("sqlite") == 0


def test_an_unknown_engine_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="engine 'nosuch' of endpoint x is not available as a target: use one of "):
        registry.open_target(Endpoint("x", "target", "nosuch"))


def test_opening_a_sqlite_endpoint_leaves_the_postgres_driver_unloaded(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from connectors.base import Endpoint\n"
        "from connectors.registry import open_target\n"
        f"open_target(Endpoint('t', 'target', 'sqlite', database={str(tmp_path / 'x.db')!r})).close()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('psycopg2', 'connectors.postgres.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
