"""Throwaway MariaDB servers for tests, driven by deploy/mariadb.sh (as tests/services.py drives PostgreSQL).

Each server lives in its own temp dir under <repo>/.test-servers/ on a free port. DMS_TEST_MARIADB_URL
points the fixture at an existing server instead (mysql://user:password@host:port/db; the user needs all
privileges, REPLICATION SLAVE and REPLICATION CLIENT included).
"""

from __future__ import annotations

import os
import pwd
import secrets
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from services import _make_dir, _require, _run, _Server, free_port

MARIADBD = os.environ.get("MARIADBD", "/usr/sbin/mariadbd")


def connect_url(url: str, **kwargs: Any) -> Any:
    """A PyMySQL connection for a mysql:// URL (autocommit, UTC, utf8mb4), for tests to set up and look."""
    import pymysql

    u = urlsplit(url)
    return pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or ""),
                           password=unquote(u.password or ""), database=u.path.lstrip("/") or None,
                           charset="utf8mb4", autocommit=True, init_command="SET time_zone = '+00:00'",
                           local_infile=True, **kwargs)


def execute(url: str, *statements: str) -> None:
    conn = connect_url(url)
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def query(url: str, sql: str, params: Any = None) -> list[tuple]:
    conn = connect_url(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


class MariaDBServer(_Server):
    env_var = "DMS_TEST_MARIADB_URL"

    def start(self) -> MariaDBServer:
        if self.external:
            self.url = self.external
            return self
        _require(MARIADBD)
        self.dir = _make_dir("mariadb-")
        if os.geteuid() == 0:
            mysql = pwd.getpwnam("mysql")
            os.chown(self.dir, mysql.pw_uid, mysql.pw_gid)
        try:
            self.url = _run("mariadb.sh", "start", str(self.dir), str(free_port()))
        except RuntimeError as e:
            log = self.dir / "log.err"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            self.stop()
            raise RuntimeError(f"{e}\n--- server log ---\n{tail}") from None
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("mariadb.sh", "stop", str(self.dir))
            self._cleanup()

    def pause(self) -> None:
        """Stop the server but keep its data, as a server that goes down would."""
        assert self.dir is not None, "only a server started by the tests can be paused"
        _run("mariadb.sh", "stop", str(self.dir))

    def resume(self) -> None:
        assert self.dir is not None
        _run("mariadb.sh", "start", str(self.dir), str(self.port))

    def dsn(self, dbname: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))


def fresh_mariadb(server: MariaDBServer) -> str:
    """Create a uniquely named empty database (utf8mb4) on ``server`` and return its URL."""
    name = f"t_{secrets.token_hex(4)}"
    execute(server.url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return server.dsn(name)
