"""Boundaries: an instance's worker runs its own tasks' jobs only; the metrics port stays on loopback; passwords
are encrypted at rest and survive a key rotation; Redis with an ACL user, and over TLS."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
import redis
from celery import Celery
from dms_env import DmsEnv, converged, execute, rows, wait_for
from services import AclRedisServer, TlsUnsupportedError, free_port

from worker.app import queue_name
from worker.dispatch import FULL_LOAD

pytestmark = pytest.mark.integration

EVENTS = "CREATE TABLE events (id bigint PRIMARY KEY, note text)"


def events(log: str, name: str) -> list[dict]:
    found = []
    for line in log.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("event") == name:
            found.append(doc)
    return found


def has_table(url: str, table: str) -> bool:
    from dms_env import connect

    conn = connect(url)
    cur = conn.cursor()
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    (found,) = cur.fetchone()
    conn.close()
    return found


def test_a_worker_refuses_jobs_of_another_instances_tasks(dms, src, dst):
    execute(src, EVENTS, "INSERT INTO events SELECT g, 'x' || g FROM generate_series(1, 500) g")
    ri1, ri2 = dms.instance, f"ri2-{dms.suffix}"
    dms.dms("instance", "create", ri2)
    dms.task("boundary", src, dst, "full-load")
    dms.start_worker(instance=ri2)  # worker-0.log: only ri2 has a worker
    wait_for(lambda: dms.state.workers(ri2), 60, "ri2's worker to register")
    dms.dms("task", "start", "boundary")  # its job waits on ri1's queue: no worker serves ri1
    # The report's repro: a job for ri1's task sent to ri2's queue.
    Celery(broker=dms.redis_url).send_task(FULL_LOAD, args=["boundary", "public.events"],
                                           queue=queue_name(ri2, "full_load"))
    # And the task's own, only, job message moved from ri1's queue to ri2's.
    r = dms.state.r
    wait_for(lambda: r.llen(queue_name(ri1, "full_load")), 30, "the job on ri1's queue")
    assert r.rpoplpush(queue_name(ri1, "full_load"), queue_name(ri2, "full_load"))

    refused = wait_for(lambda: len(found := events(dms.worker_log(0), "job_refused_wrong_instance")) >= 2 and found,
                       60, "ri2's worker to refuse both jobs")
    for event in refused:
        assert (event["task"], event["job"]) == ("boundary", "full_load:public.events")
        assert (event["task_instance"], event["worker_instance"]) == (ri1, ri2)
        assert event["level"] == "error"
    assert not events(dms.worker_log(0), "job_started")
    assert not has_table(dst, "public.events"), "ri2's worker loaded a table of ri1's task"
    assert dms.stats("boundary")["public.events"]["FullLoadRows"] == 0

    # Nothing is lost for ri1: the job its task waits for is sent again to ri1's queue, and ri1 runs it.
    dms.start_worker(instance=ri1)  # worker-1.log
    assert dms.wait_status("boundary", "stopped", "failed", timeout=120)["Status"] == "stopped"
    assert len(rows(dst, "events")) == 500
    assert events(dms.worker_log(1), "job_started") and not events(dms.worker_log(0), "job_started")


def listening(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, from the kernel's own tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.255", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_metrics_port_listens_on_loopback_only_by_default(dms):
    port = free_port()
    dms.start_worker(metrics_port=port)

    def served() -> bool:
        try:
            return b"MemoryUsage" in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
        except OSError:
            return False

    wait_for(served, 60, "the metrics port to answer on 127.0.0.1")
    assert listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else
    if (address := outward_address()) is not None:
        with pytest.raises(ConnectionRefusedError), socket.create_connection((address, port), timeout=5):
            pass


def test_metrics_port_opens_to_every_address_only_when_asked(dms):
    port = free_port()
    dms.start_worker(metrics_port=port, metrics_address="0.0.0.0")
    wait_for(lambda: listening(port), 60, "the metrics port to listen")
    assert listening(port) == {"00000000"}
    if (address := outward_address()) is not None:
        socket.create_connection((address, port), timeout=5).close()


def load_events(dms, src, dst, task: str) -> None:
    execute(src, EVENTS, "INSERT INTO events SELECT g, 'x' || g FROM generate_series(1, 300) g")
    dms.task(task, src, dst, "full-load")


def run_to_the_end(dms, dst, task: str) -> None:
    dms.dms("task", "start", task)
    assert dms.wait_status(task, "stopped", "failed", timeout=120)["Status"] == "stopped", dms.describe(task)
    assert len(rows(dst, "events")) == 300


def test_rotate_keeps_a_running_worker_working(dms, src, dst):
    """The key file: a worker started before `dms secrets rotate` reads the new key when it needs it."""
    load_events(dms, src, dst, "rotated")
    key_file = dms.tmp / "data" / "opendms" / "secret.key"
    before = key_file.read_text()
    dms.start_worker()
    wait_for(lambda: dms.state.workers(dms.instance), 60, "the worker to register")
    assert "2 password(s) re-encrypted" in dms.dms("secrets", "rotate").stdout
    assert key_file.read_text() != before
    run_to_the_end(dms, dst, "rotated")


def test_a_fleet_sharing_DMS_SECRET_KEY_rotates_in_steps(dms, src, dst):
    """README's steps: NEW,OLD on every worker; rotate; then NEW alone. A worker with OLD alone refuses to start."""
    old, new = (dms.dms("secrets", "generate-key").stdout.strip() for _ in range(2))
    dms.env["DMS_SECRET_KEY"] = old
    load_events(dms, src, dst, "fleet")
    assert not (dms.tmp / "data" / "opendms" / "secret.key").exists()
    dms.env["DMS_SECRET_KEY"] = f"{new},{old}"
    dms.start_worker()  # worker-0: restarted with both keys
    assert "2 password(s) re-encrypted with the first key" in dms.dms("secrets", "rotate").stdout
    stale = dms.start_worker(DMS_SECRET_KEY=old)  # worker-1: a machine that was forgotten
    assert stale.wait(timeout=60) == 2
    lines = [line for line in dms.worker_log(1).splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot decrypt the password of endpoint ") and \
        "with DMS_SECRET_KEY: it was encrypted with another key" in lines[-1], lines
    dms.env["DMS_SECRET_KEY"] = new
    run_to_the_end(dms, dst, "fleet")  # worker-0 (NEW,OLD) runs it; NEW alone is enough for the CLI


@pytest.fixture(scope="module")
def acl_redis():
    server = AclRedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_redis():
    try:
        server = AclRedisServer().start(tls=True)
    except TlsUnsupportedError as exc:
        pytest.skip(f"no redis-server here is built with TLS: {exc}")
    yield server
    server.stop()


def replicate_through(redis_url: str, tmp_path, src: str, dst: str) -> DmsEnv:
    """A full load and live changes, with every process of the fleet on `redis_url`."""
    env = DmsEnv(tmp_path, redis_url)
    try:
        execute(src, EVENTS, "INSERT INTO events SELECT g, 'x' || g FROM generate_series(1, 300) g")
        env.start_live("via", src, dst)
        execute(src, "INSERT INTO events SELECT g, 'live' || g FROM generate_series(301, 400) g",
                "UPDATE events SET note = 'changed' WHERE id <= 10", "DELETE FROM events WHERE id > 390")
        wait_for(lambda: converged(src, dst, "events"), 90, "the changes to reach the target")
        assert env.describe("via")["Status"] == "running"
        assert env.dms("task", "stop", "via").stdout.strip() == "task via stopped"
    finally:
        env.close()
    return env


def refused(env: DmsEnv, url: str) -> str:
    """`dms instance list` (which reads the live state) with DMS_REDIS_URL=url: exit 1 and one line."""
    env.env["DMS_REDIS_URL"] = url
    proc = env.dms("instance", "list", check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


def test_a_fleet_on_a_redis_acl_user(acl_redis, tmp_path, src, dst):
    env = replicate_through(acl_redis.url, tmp_path, src, dst)
    address = acl_redis.url.rpartition("@")[2]
    with pytest.raises(redis.exceptions.AuthenticationError):  # the default user is off: the ACL is in force
        redis.Redis.from_url(f"redis://{address}").ping()
    message = refused(env, f"redis://dms:wrong-password@{address}")
    assert message.startswith(f"error: cannot reach Redis at redis://dms:***@{address}: ")
    assert "wrong-password" not in message


def test_a_fleet_over_tls(tls_redis, tmp_path, src, dst):
    env = replicate_through(tls_redis.url, tmp_path, src, dst)
    address = tls_redis.url.rpartition("@")[2].partition("?")[0]
    # Without the CA certificate the server's certificate is not trusted: verification is on by default.
    assert "certificate verify failed" in refused(env, f"rediss://dms:{tls_redis.password}@{address}")
    assert "cannot reach Redis" in refused(env, f"redis://dms:{tls_redis.password}@{address}")  # no TLS: no talk


def test_a_running_worker_without_the_key_fails_the_task_saying_so(dms, src, dst):
    """A worker that started before its instance had tasks, with another key: the task fails, naming the key."""
    other = dms.dms("secrets", "generate-key").stdout.strip()
    dms.start_worker(DMS_SECRET_KEY=other)
    wait_for(lambda: dms.state.workers(dms.instance), 60, "the worker to register")
    load_events(dms, src, dst, "sec-nokey")  # the CLI's key file encrypts the endpoints' passwords
    dms.dms("task", "start", "sec-nokey")
    failed = dms.wait_status("sec-nokey", "failed", timeout=60)
    assert failed["LastFailureMessage"].startswith("a worker: cannot decrypt the password of endpoint src-")
    assert "with DMS_SECRET_KEY: it was encrypted with another key" in failed["LastFailureMessage"]
    assert not has_table(dst, "public.events")
