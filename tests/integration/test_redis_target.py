"""PostgreSQL -> Redis through the real `dms` CLI and workers, on a Redis target apart from OpenDMS's own:
settings objects, `endpoint test` over TLS and with ACL users, and a full load with CDC that survives a
worker killed with SIGKILL mid-CDC (each batch and its checkpoint in one MULTI/EXEC)."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import redis
from dms_env import Writer, connect, execute, wait_for
from services import AclRedisServer

from connectors.base import Batch, Change, Column, Endpoint, Op, Position, TableId, TableSchema
from connectors.redis import values
from connectors.registry import open_target

pytestmark = pytest.mark.integration

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, i int, t text, n numeric(12,4))"
SEED = "INSERT INTO orders SELECT g, g % 10, 'order ' || g, g * 0.5 FROM generate_series(1, 5000) g"


def redis_endpoint(dms, name: str, url: str, **settings) -> str:
    u = urlsplit(url)
    given = {"ServerName": u.hostname, "Port": u.port, "SslSecurityProtocol": "plaintext", **settings}
    dms.dms("endpoint", "create", name, "--type", "target", "--engine", "redis", "--redis-settings", json.dumps(given))
    return name


def source_hashes(url: str) -> dict[str, dict[str, str]]:
    conn = connect(url)
    cur = conn.cursor()
    cur.execute("SELECT id, i, t, n FROM orders")
    out = {f"public.orders.{r[0]}": {c: values.text(v) for c, v in zip(("id", "i", "t", "n"), r, strict=True)
                                     if v is not None} for r in cur.fetchall()}
    conn.close()
    return out


def target_hashes(url: str) -> dict[str, dict[str, str]]:
    r = redis.Redis.from_url(url, decode_responses=True)
    keys = list(r.scan_iter(match="public.orders.*", count=1000))
    with r.pipeline(transaction=False) as p:
        for k in keys:
            p.hgetall(k)
        return dict(zip(keys, p.execute(), strict=True))


def test_full_load_and_cdc_with_writes_during_the_load_and_a_worker_killed(dms, src, redis_target):
    redis.Redis.from_url(redis_target.url).flushall()
    execute(src, ORDERS, SEED)
    source = dms.endpoint(f"src-{dms.suffix}", "source", src)
    target = redis_endpoint(dms, f"redis-{dms.suffix}", redis_target.url)
    dms.dms("endpoint", "test", target)
    (dms.tmp / "all.json").write_text(json.dumps({"rules": [{
        "rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
        "object-locator": {"schema-name": "public", "table-name": "orders"}}]}))
    dms.dms("task", "create", "to-redis", "--source", source, "--target", target, "--instance", dms.instance,
            "--migration-type", "full-load-and-cdc", "--table-mappings", str(dms.tmp / "all.json"))
    writer = Writer(src, "orders", 100_000)
    worker = dms.start_worker()
    dms.dms("task", "start", "to-redis")
    writer.start()  # changes while the table loads
    dms.wait_live("to-redis")
    wait_for(lambda: sum(writer.counts.values()) > 300, 60, "changes during CDC")
    dms.kill(worker)  # SIGKILL mid-CDC: a batch may be half-way
    dms.start_worker()
    wait_for(lambda: sum(writer.counts.values()) > 600, 60, "changes after the kill")
    counts = writer.stop()
    assert counts["rekey"] and counts["delete"] and counts["update"]
    expected = source_hashes(src)
    wait_for(lambda: target_hashes(redis_target.url) == expected, 90, "the Redis keyspace to equal the source")
    assert target_hashes(redis_target.url)["public.orders.2"]["n"] == values.text(Decimal("1.0000"))
    assert "source and target are identical (1 tables)" in dms.dms("task", "validate", "to-redis").stdout
    assert dms.describe("to-redis")["Status"] == "running"


@pytest.fixture(scope="module")
def acl_redis():
    server = AclRedisServer().start(user="writer", tls=True)
    yield server
    server.stop()


def test_endpoint_test_over_tls_with_an_acl_user_and_one_line_per_mistake(dms, acl_redis):
    u = urlsplit(acl_redis.url)
    ca = u.query.removeprefix("ssl_ca_certs=")
    good = {"ServerName": "127.0.0.1", "Port": u.port, "SslSecurityProtocol": "ssl-encryption",
            "SslCaCertificateArn": ca, "AuthType": "auth-role", "AuthUserName": "writer", "AuthPassword": u.password}
    redis_endpoint(dms, "tls-acl", acl_redis.url, **good)
    out = dms.dms("endpoint", "test", "tls-acl").stdout
    assert "OK: connected to redis endpoint tls-acl" in out and "as writer" in out
    mistakes = {  # checked in this process (each `dms` costs seconds on a busy machine)
        "wrong-pass": ({"AuthPassword": "nope"}, "authentication failed"),
        "no-ca": ({"SslCaCertificateArn": ""}, "TLS certificate is not trusted"),
        "plain": ({"SslSecurityProtocol": "plaintext"}, "does it take TLS connections only"),
    }
    for name, (change, message) in mistakes.items():
        given = {**good, **change}
        ep = Endpoint(name, "target", "redis", "127.0.0.1", u.port, user="writer", password=given.pop("AuthPassword"),
                      extra={k: str(v) for k, v in given.items() if k not in ("ServerName", "Port", "AuthUserName")})
        target = open_target(ep)
        try:
            problems = target.check()
        finally:
            target.close()
        assert len(problems) == 1 and message in problems[0] and "\n" not in problems[0], (name, problems)


def test_auth_token_loads_and_applies_and_a_wrong_token_is_one_line(redis_target):
    """AuthType auth-token is Redis's AUTH with a password (requirepass), set on the target for this test only."""
    u = urlsplit(redis_target.url)
    admin = redis.Redis(u.hostname, u.port)
    token = "t0ken-" + u.hostname.replace(".", "")
    admin.config_set("requirepass", token)
    try:
        def target(password: str):
            return open_target(Endpoint("tok", "target", "redis", u.hostname, u.port, password=password,
                                        extra={"SslSecurityProtocol": "plaintext", "AuthType": "auth-token"}))

        bad = target("wrong")
        (problem,) = bad.check()
        bad.close()
        assert "authentication failed" in problem and "AuthPassword in --redis-settings" in problem
        good = target(token)
        try:
            assert good.check() == []
            schema = TableSchema(TableId("app", "tokens"), (Column("id", "int4"), Column("v", "text")), ("id",))
            good.prepare(schema, "drop")
            assert good.load(schema, [Batch(2, [{"id": 1, "v": "a"}, {"id": 2, "v": None}])]) == 2
            good.apply("tok-task", {schema: [Change(schema.table, Op.DELETE, Position("l", 1, 1), {"id": 1})]})
            assert [r for rows in good.read(schema) for r in rows] == [{"id": 2, "v": None}]
            assert good.applied("tok-task") == {schema.table: Position("l", 1, 1)}
        finally:
            good.close()
    finally:
        redis.Redis(u.hostname, u.port, password=token).config_set("requirepass", "")
