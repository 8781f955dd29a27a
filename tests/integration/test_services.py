"""The test servers themselves: right WAL levels, real password checks, durable Redis."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg2
import pytest
import redis
from services import RedisServer

pytestmark = pytest.mark.integration


def _scalar(url: str, sql: str):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_wal_levels(pg, pg_target):
    assert pg.port != pg_target.port
    assert _scalar(pg.url, "SHOW wal_level") == "logical"
    assert _scalar(pg_target.url, "SHOW wal_level") == "replica"


@pytest.mark.parametrize("password", [None, "wrong"])
def test_tcp_requires_the_right_password(pg, password, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    parts = urlsplit(pg.url)
    kwargs = dict(host="127.0.0.1", port=parts.port, dbname="app", user="dms")
    if password is not None:
        kwargs["password"] = password
    with pytest.raises(psycopg2.OperationalError, match="password authentication|no password"):
        psycopg2.connect(**kwargs, connect_timeout=5)


def test_redis_keeps_data_across_restart():
    server = RedisServer(private=True).start()  # our own: restarting it disturbs no other test
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("dms:test:restart", "kept")
        client.close()

        server.restart()

        client = redis.Redis.from_url(server.url)
        try:
            assert client.get("dms:test:restart") == b"kept"
        finally:
            client.close()
    finally:
        server.stop()
