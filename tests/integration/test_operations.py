"""Operating a fleet: metrics under DMS's names, Prometheus, Flower, `dms task watch`, task history."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import psycopg2
import pytest
from dms_env import converged, execute, wait_for
from prometheus_client.parser import text_string_to_metric_families
from services import free_port

from worker.metrics import METRICS, task_metrics

pytestmark = pytest.mark.integration

EVENTS = "CREATE TABLE events (id bigint PRIMARY KEY, note text, created timestamptz DEFAULT clock_timestamp())"


class SteadyWriter(threading.Thread):
    """Inserts `per_tick` rows every `tick` seconds on a fixed schedule: a known, steady change rate."""

    def __init__(self, url: str, per_tick: int = 20, tick: float = 0.1, first_id: int = 1_000_000) -> None:
        super().__init__(daemon=True)
        self.url, self.per_tick, self.tick, self.next_id = url, per_tick, tick, first_id
        self.rate = per_tick / tick
        self.written = 0
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                due = time.monotonic()
                while not self.stop_event.is_set():
                    cur.execute("INSERT INTO events (id, note) SELECT g, 'steady' FROM generate_series(%s, %s) g",
                                (self.next_id, self.next_id + self.per_tick - 1))
                    self.next_id += self.per_tick
                    self.written += self.per_tick
                    due += self.tick
                    time.sleep(max(0.0, due - time.monotonic()))
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            conn.close()

    def stop(self) -> int:
        self.stop_event.set()
        self.join(timeout=30)
        if self.error:
            raise self.error
        return self.written


class Staleness(threading.Thread):
    """How far behind the target is, polled: the age of its newest row (rows carry their source commit time)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[float] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self.stop_event.wait(0.02):
                cur.execute("SELECT extract(epoch FROM clock_timestamp() - max(created)) FROM events")
                self.samples.append(float(cur.fetchone()[0]))
        conn.close()

    def stop(self) -> float:
        self.stop_event.set()
        self.join(timeout=10)
        return max(self.samples)


def _scrape(port: int) -> dict[tuple[str, str], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {(s.name, s.labels.get("ReplicationTaskIdentifier", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_under_a_steady_change_rate(dms, src, dst):
    execute(src, EVENTS, "INSERT INTO events (id, note) SELECT g, 'seed' FROM generate_series(1, 2000) g")
    # The target's table is held locked, so the load waits in its first step and changes pile up in the cache.
    execute(dst, EVENTS)
    blocker = psycopg2.connect(dst)
    blocker.cursor().execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    port = free_port()
    dms.task("met", src, dst, "full-load-and-cdc")
    dms.start_worker(concurrency=2, metrics_port=port)
    dms.dms("task", "start", "met")
    wait_for(lambda: dms.table_states("met").get("public.events") == "loading", 60, "the load to begin")
    writer = SteadyWriter(src)
    writer.start()
    try:
        time.sleep(6.5)
        caching = task_metrics(dms.state, "met")
        written = writer.written
        scraped = _scrape(port)
        blocker.rollback()  # the load goes on; the cache drains; then changes apply as they come
        dms.wait_live("met", timeout=60)
        time.sleep(4.0)
        probe = Staleness(dst)
        probe.start()
        time.sleep(2.5)  # a whole throughput window of steady apply
        steady = [task_metrics(dms.state, "met")]
        for _ in range(5):
            time.sleep(0.4)
            steady.append(task_metrics(dms.state, "met"))
        cli = dms.json("task", "metrics", "met")
        delay = probe.stop()
    finally:
        writer.stop()
        blocker.close()
    wait_for(lambda: converged(src, dst, "events"), 60, "target to equal source")
    wait_for(lambda: task_metrics(dms.state, "met")["CDCIncomingChanges"] == 0, 10, "the backlog to empty")

    rate = writer.rate
    print(f"\nrate {rate}/s; while the table loads ({written} written): {json.dumps(caching)}")
    print(f"steady: {json.dumps(steady[0])}\ncli: {json.dumps(cli)}")
    # While the table loads every change waits in the cache: the backlog is what was written.
    assert caching["CDCIncomingChanges"] == pytest.approx(written, rel=0.2)
    assert caching["CDCChangesDiskTarget"] == pytest.approx(written, rel=0.2)
    assert caching["CDCThroughputRowsSource"] == pytest.approx(rate, rel=0.2)
    assert caching["CDCThroughputRowsTarget"] == 0
    assert scraped[("CDCIncomingChanges", "met")] == pytest.approx(written, rel=0.2)
    assert scraped[("MemoryUsage", "")] > 10_000_000
    # Applying as changes come: both throughputs are the write rate, and little waits.
    for figures in (*steady, cli["Metrics"]):
        assert figures["CDCThroughputRowsSource"] == pytest.approx(rate, rel=0.2), figures
        assert figures["CDCThroughputRowsTarget"] == pytest.approx(rate, rel=0.2), figures
        assert figures["CDCIncomingChanges"] < rate, figures
    assert set(cli["Metrics"]) == {m.name for m in METRICS}
    # Latencies: positive, and below the end-to-end delay each row took (commit on the source to visible on
    # the target), measured here from the rows' own timestamps.
    latencies = [f[name] for f in steady for name in ("CDCLatencySource", "CDCLatencyTarget")]
    print(f"latencies {latencies}; end-to-end delay at most {delay:.3f}s, median "
          f"{statistics.median(probe.samples):.3f}s")
    assert all(0 < v < delay for v in latencies), (latencies, delay)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB0-2]|\r")


def _run_in_terminal(args: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (so rich draws live) until it exits; its screen output as text."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"})
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, ANSI.sub("", out.decode(errors="replace"))


def test_watch_draws_progress_in_a_terminal_and_ends_when_the_task_stops(dms, src, dst):
    statements = [EVENTS.replace("events", f"t{i}") for i in range(3)]
    statements += [f"INSERT INTO t{i} (id, note) SELECT g, md5(g::text) FROM generate_series(1, 30000) g"
                   for i in range(3)]
    execute(src, *statements)
    # t1's target table is held locked, so its load waits at its first step: the view catches it mid-load.
    execute(dst, EVENTS.replace("events", "t1"))
    blocker = psycopg2.connect(dst)
    blocker.cursor().execute("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE")
    dms.task("w", src, dst, "full-load")
    dms.dms("task", "start", "w")
    dms.start_worker(concurrency=2)
    watcher = threading.Thread(target=lambda: result.append(
        _run_in_terminal([sys.executable, "-m", "scheduler.cli", "task", "watch", "w", "--interval", "0.2"],
                         dms.env, 90)))
    result: list[tuple[int, str]] = []
    watcher.start()
    wait_for(lambda: dms.table_states("w") == {"public.t0": "completed", "public.t1": "loading",
                                                "public.t2": "completed"}, 60, "t0 and t2 loaded, t1 loading")
    time.sleep(1.0)
    assert not result, "watch must go on while the task runs"
    blocker.rollback()
    blocker.close()
    watcher.join(timeout=90)
    code, screen = result[0]
    print(screen[-3000:])
    assert code == 0
    assert dms.describe("w")["Status"] == "stopped"
    assert re.search(r"public\.t1\s+Full load\s+.*0 / ~\d", screen), "t1 shown mid-load with its estimate"
    estimate = int(re.search(r"public\.t1\s+Full load\s+.*0 / ~([\d,]+)", screen)[1].replace(",", ""))
    assert 15_000 <= estimate <= 60_000, estimate  # the planner's guess for a table never analyzed
    assert re.search(r"public\.t0\s+Table completed\s+.*30,000 / ~30,000", screen)
    final = screen[screen.rindex("task w"):]  # the last frame drawn
    assert "status stopped" in final and "Stop Reason FULL_LOAD_ONLY_FINISHED" in final
    assert len(re.findall(r"Table completed\s+.*30,000 / ~30,000", final)) == 3
