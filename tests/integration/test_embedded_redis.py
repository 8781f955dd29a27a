"""The embedded Redis: shared by the processes that use it, shut down by the last one, durable across restarts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.integration

USE = """
import sys
from worker.app import redis_client
r = redis_client()
r.incr("uses")
print(r.get("uses"), flush=True)
sys.stdin.read()  # a user of the server until the test lets it go (closes its stdin)
"""


def _run(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", USE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def _done(proc: subprocess.Popen) -> int:
    proc.stdin.close()
    return proc.wait(timeout=30)


def test_processes_share_one_server_and_the_last_one_out_stops_it_without_losing_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DMS_REDIS_URL"} | {"XDG_DATA_HOME": str(tmp_path)}
    sock = Path(tmp_path) / "opendms" / "redis" / "redis.sock"
    first = _run(env)
    assert first.stdout.readline().strip() == "1"
    second = _run(env)  # attaches to the running server, and leaves it to the first
    assert second.stdout.readline().strip() == "2"
    assert _done(second) == 0
    probe = redis.Redis(unix_socket_path=str(sock))
    assert probe.ping()
    probe.connection_pool.disconnect()
    assert _done(first) == 0
    assert not sock.exists()  # the last one out shut it down
    third = _run(env)  # a new server, from the append-only file
    assert third.stdout.readline().strip() == "3"
    assert _done(third) == 0
    assert not sock.exists()
