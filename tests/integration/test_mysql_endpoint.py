"""MySQL/MariaDB endpoints against a real MariaDB (deploy/mariadb.sh): `dms endpoint test` under each of DMS's
engine names, and each connection problem said in one line with its fix."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from servers_mariadb import connect_url, query
from services import free_port

from connectors.base import Endpoint
from connectors.errors import ConfigError, TransientError
from connectors.registry import open_target

pytestmark = pytest.mark.integration


def _endpoint(dms, name: str, url: str, engine: str = "mariadb", **over: str) -> str:
    u = urlsplit(url)
    args = {"host": u.hostname, "port": str(u.port), "database": u.path.lstrip("/"), "user": u.username,
            "password": u.password, **over}
    dms.dms("endpoint", "create", name, "--type", "target", "--engine", engine,
            *[a for k, v in args.items() for a in (f"--{k}", v)])
    return name


def test_endpoint_test_says_ok_or_one_clear_line(dms, mariadb_db) -> None:
    _endpoint(dms, "my-ok", mariadb_db)
    out = dms.dms("endpoint", "test", "my-ok").stdout
    assert out.startswith("OK: connected to mariadb endpoint my-ok") and "as dms" in out
    _endpoint(dms, "my-bad", mariadb_db, "aurora", password="wrong")
    proc = dms.dms("endpoint", "test", "my-bad", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "authentication failed for user 'dms'" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _target(url: str, engine: str = "mariadb", **over: object) -> Any:
    u = urlsplit(url)
    fields = {"host": u.hostname, "port": u.port, "database": u.path.lstrip("/"), "user": "dms", "password": "dms",
              **over}
    return open_target(Endpoint("t", "target", engine, **fields))


@pytest.mark.parametrize("engine", ["mysql", "aurora"])
def test_every_engine_name_connects(mariadb_db, engine) -> None:
    target = _target(mariadb_db, engine)
    try:
        assert target.check() == []
    finally:
        target.close()


@pytest.mark.parametrize(("over", "kind", "words"), [
    ({"password": "wrong"}, ConfigError, "authentication failed for user 'dms'"),
    ({"database": "no_such_db"}, ConfigError, "database 'no_such_db' does not exist"),
    ({"host": "no-such-host.invalid"}, ConfigError, "cannot resolve host 'no-such-host.invalid'"),
    ({"port": 0}, TransientError, "connection refused; is the server running and the port right?"),
], ids=["password", "database", "host", "refused"])
def test_connection_problems_are_one_clear_line(mariadb_db, over, kind, words) -> None:
    if over.get("port") == 0:
        over = {"port": free_port()}
    with pytest.raises(kind) as caught:
        _target(mariadb_db, **over)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_lost_connection_is_transient(mariadb_db) -> None:
    target = _target(mariadb_db)
    try:
        assert target.check() == []
        session = target.conn.thread_id()
        conn = connect_url(mariadb_db)
        conn.cursor().execute(f"KILL {session}")
        conn.close()
        with pytest.raises(TransientError, match="Lost connection|gone away"):
            target.check()
    finally:
        target.close()
    assert query(mariadb_db, "SELECT @@binlog_format, @@binlog_row_image, @@local_infile") == [("ROW", "FULL", 1)]
