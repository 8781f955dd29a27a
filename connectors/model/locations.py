"""Where OpenDMS keeps its own files and its catalog, importable without the catalog's database libraries
(the start a running worker plans, scheduler/start_requests.py, must not import them)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Where OpenDMS keeps its own files on this machine: the default catalog and the embedded Redis."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "opendms"


def default_catalog_url() -> str:
    return f"sqlite:///{data_dir() / 'catalog.db'}"


def catalog_url() -> str:
    url = os.environ.get("DMS_CATALOG_URL") or default_catalog_url()
    # SQLAlchemy's default PostgreSQL driver is psycopg 3; the one we ship is psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url
