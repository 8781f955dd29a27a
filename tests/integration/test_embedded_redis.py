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
import sys, time
from worker.app import redis_client
r = redis_client()
r.incr("uses")
print(r.get("uses"), flush=True)
time.sleep(float(sys.argv[1]))
"""


def _run(env: dict, hold: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", USE, str(hold)], env=env, stdout=subprocess.PIPE, text=True)


def test_processes_share_one_server_and_the_last_one_out_stops_it_without_losing_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DMS_REDIS_URL"} | {"XDG_DATA_HOME": str(tmp_path)}
    sock = Path(tmp_path) / "opendms" / "redis" / "redis.sock"
    first = _run(env, 3.0)
    assert first.stdout.readline().strip() == "1"
    second = _run(env, 0.0)  # attaches to the running server, and leaves it to the first
    assert second.stdout.readline().strip() == "2"
    assert second.wait(timeout=30) == 0
    probe = redis.Redis(unix_socket_path=str(sock))
    assert probe.ping()
    probe.connection_pool.disconnect()
    assert first.wait(timeout=30) == 0
    assert not sock.exists()  # the last one out shut it down
    third = _run(env, 0.0)  # a new server, from the append-only file
    assert third.stdout.readline().strip() == "3"
    assert third.wait(timeout=30) == 0
    assert not sock.exists()
