"""Operating a fleet: metrics under DMS's names, Prometheus, Flower, `dms task watch`, task history."""

from __future__ import annotations

import ast
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
from dms_env import connect, converged, execute, wait_for
from prometheus_client.parser import text_string_to_metric_families
from services import free_port

from worker import series
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
    dms.task("steady-rate", src, dst, "full-load-and-cdc")
    dms.start_worker(concurrency=2, metrics_port=port)
    dms.dms("task", "start", "steady-rate")
    wait_for(lambda: dms.table_states("steady-rate").get("public.events") == "loading", 60, "the load to begin")
    writer = SteadyWriter(src)
    writer.start()
    try:
        time.sleep(6.5)
        caching = task_metrics(dms.state, "steady-rate")
        written = writer.written
        scraped = _scrape(port)
        blocker.rollback()  # the load goes on; the cache drains; then changes apply as they come
        dms.wait_live("steady-rate", timeout=60)
        time.sleep(4.0)
        probe = Staleness(dst)
        probe.start()
        time.sleep(2.5)  # a whole throughput window of steady apply
        steady = [task_metrics(dms.state, "steady-rate")]
        for _ in range(5):
            time.sleep(0.4)
            steady.append(task_metrics(dms.state, "steady-rate"))
        cli = dms.json("task", "metrics", "steady-rate")
        delay = probe.stop()
    finally:
        writer.stop()
        blocker.close()
    wait_for(lambda: converged(src, dst, "events"), 60, "target to equal source")
    wait_for(lambda: task_metrics(dms.state, "steady-rate")["CDCIncomingChanges"] == 0, 10, "the backlog to empty")

    # The load's rows (bytes of a binary bulk load, counted when it commits) show in the full-load throughputs.
    history = series.read(dms.state.r, "steady-rate", time.time() + series.BUCKET)
    rows_read, rows_loaded = (sum(p[name] for p in history) * series.BUCKET
                              for name in ("FullLoadThroughputRowsSource", "FullLoadThroughputRowsTarget"))
    assert rows_read == pytest.approx(rows_loaded) and rows_loaded >= 2000  # the seed, and the writer's rows before it

    rate = writer.rate
    print(f"\nrate {rate}/s; while the table loads ({written} written): {json.dumps(caching)}")
    print(f"steady: {json.dumps(steady[0])}\ncli: {json.dumps(cli)}")
    # While the table loads every change waits in the cache: the backlog is what was written.
    assert caching["CDCIncomingChanges"] == pytest.approx(written, rel=0.2)
    assert caching["CDCChangesDiskTarget"] == pytest.approx(written, rel=0.2)
    assert caching["CDCThroughputRowsSource"] == pytest.approx(rate, rel=0.2)
    assert caching["CDCThroughputRowsTarget"] == 0
    assert scraped[("CDCIncomingChanges", "steady-rate")] == pytest.approx(written, rel=0.2)
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
    assert all(0 <= v < delay for v in latencies), (latencies, delay)
    # DMS reports 0 when nothing waits (the reader idle between the writer's commits); while changes wait, > 0.
    waiting = [f[name] for f in steady if f["CDCIncomingChanges"] > 0 for name in ("CDCLatencySource",
                                                                                  "CDCLatencyTarget")]
    assert waiting and all(v > 0 for v in waiting), (waiting, steady)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB0-2]|\r")


def _run_in_terminal(args: list[str], env: dict[str, str], timeout: float, columns: int = 160,
                     out: bytearray | None = None) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (so rich draws live) until it exits; its screen output as text
    (also gathered in ``out`` as it comes, for a caller that waits for a frame)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"})
    os.close(slave)
    out = bytearray() if out is None else out
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
    dms.task("watch-view", src, dst, "full-load")
    dms.dms("task", "start", "watch-view")
    dms.start_worker(concurrency=2)
    drawn = bytearray()
    watcher = threading.Thread(target=lambda: result.append(
        _run_in_terminal([sys.executable, "-m", "scheduler.cli", "task", "watch", "watch-view", "--interval", "0.2"],
                         dms.env, 90, out=drawn)))
    result: list[tuple[int, str]] = []
    watcher.start()
    wait_for(lambda: dms.table_states("watch-view") == {"public.t0": "completed", "public.t1": "loading",
                                                "public.t2": "completed"}, 60, "t0 and t2 loaded, t1 loading")
    # A busy machine may take seconds to start the watch: t1 stays locked until a frame shows it loading.
    wait_for(lambda: re.search(r"public\.t1\s+Full load", ANSI.sub("", bytes(drawn).decode(errors="replace"))),
             60, "watch to draw t1 mid-load")
    assert not result, "watch must go on while the task runs"
    blocker.rollback()
    blocker.close()
    watcher.join(timeout=90)
    code, screen = result[0]
    print(screen[-3000:])
    assert code == 0
    assert dms.describe("watch-view")["Status"] == "stopped"
    assert re.search(r"public\.t1\s+Full load\s+.*0 / ~\d", screen), "t1 shown mid-load with its estimate"
    estimate = int(re.search(r"public\.t1\s+Full load\s+.*0 / ~([\d,]+)", screen)[1].replace(",", ""))
    assert 15_000 <= estimate <= 60_000, estimate  # the planner's guess for a table never analyzed
    assert re.search(r"public\.t0\s+Table completed\s+.*30,000 / ~30,000", screen)
    final = screen[screen.rindex("task watch-view"):]  # the last frame drawn
    assert "status stopped" in final and "Stop Reason FULL_LOAD_ONLY_FINISHED" in final
    assert len(re.findall(r"Table completed\s+.*30,000 / ~30,000", final)) == 3
    # At 80 columns nothing is cut off: every line fits, each table's state and rows still show.
    code, narrow = _run_in_terminal([sys.executable, "-m", "scheduler.cli", "task", "watch", "watch-view"], dms.env,
                                    30, columns=80)
    assert code == 0
    last = narrow[narrow.rindex("task watch-view"):]  # frames follow each other once cursor moves are gone
    assert max(len(line) for line in last.splitlines()) <= 80, last
    assert len(re.findall(r"public\.t\d\s+Table completed\s+.*30,000\s+0\s+0\s+0", last)) == 3, last


def _get_json(url: str) -> object:
    return json.loads(urllib.request.urlopen(url, timeout=10).read())


def test_flower_shows_the_workers_instance_and_named_jobs(dms, src, dst):
    execute(src, EVENTS, "INSERT INTO events (id, note) SELECT g, 'x' FROM generate_series(1, 1000) g")
    port = free_port()
    log = open(dms.tmp / "flower.log", "w")  # noqa: SIM115
    flower = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "flower", "--port", str(port)],
                              env={**dms.env, "FLOWER_UNAUTHENTICATED_API": "true"}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return urllib.request.urlopen(f"{base}/healthcheck", timeout=2).read() == b"OK"
            except OSError:
                return False

        wait_for(up, 30, "Flower to answer")
        dms.start_worker(concurrency=1)
        dms.task("flower-jobs", src, dst, "full-load")
        dms.dms("task", "start", "flower-jobs")
        assert dms.wait_status("flower-jobs", "stopped", "failed")["Status"] == "stopped"

        def our_worker() -> dict:
            workers = _get_json(f"{base}/api/workers?refresh=1")
            return {name: w for name, w in workers.items() if name.startswith(f"{dms.instance}.")}

        workers = wait_for(our_worker, 30, "Flower to list the worker")
        (name, info), = workers.items()
        assert name == f"{dms.instance}.{dms.workers[0].pid}@{os.uname().nodename}"
        assert {q["name"] for q in info["active_queues"]} == {f"dms.{dms.instance}.full_load",
                                                              f"dms.{dms.instance}.cdc"}

        def load_job() -> list:
            jobs = _get_json(f"{base}/api/tasks").values()
            return [j for j in jobs if j["name"] == "flower-jobs full-load public.events" and j["state"] == "SUCCESS"]

        try:
            seen = wait_for(load_job, 30, "Flower to show the full-load job")
        except AssertionError:
            # Celery's events are best effort (Redis pub/sub, nothing kept): CI once lost this job's on a busy
            # machine, with Flower listening. The job's run again: Flower must show one of the two.
            dms.dms("task", "start", "flower-jobs", "--type", "reload-target")
            assert dms.wait_status("flower-jobs", "stopped", "failed")["Status"] == "stopped"
            seen = wait_for(load_job, 30, "Flower to show the full-load job (run again)")
        job = seen[0]
        assert job["worker"] == name
        assert ast.literal_eval(job["args"]) == ["flower-jobs", "public.events"]
    finally:
        os.killpg(flower.pid, 9)
        flower.wait(timeout=10)
        log.close()


def test_describe_shows_history_and_the_recovery_checkpoint_starts_a_new_cdc_task(dms, pg, src, dst):
    execute(src, EVENTS, "CREATE PUBLICATION pub FOR TABLE events")
    slot = f"slot_{dms.suffix}"
    execute(src, f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
    db = src.rsplit("/", 1)[1]
    dms.dms("endpoint", "create", "hsrc", "--type", "source", "--engine", "postgres", "--port", str(pg.port),
            "--database", db, "--user", "dms", "--password", "dms", "--extra", f"slotName={slot};publicationName=pub")
    dms.endpoint("hdst", "target", dst)
    mappings = dms.tmp / "h.json"
    mappings.write_text(json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1",
                                               "rule-action": "include", "object-locator": {
                                                   "schema-name": "public", "table-name": "events"}}]}))

    def create(name: str, *extra: str) -> None:
        dms.dms("task", "create", name, "--source", "hsrc", "--target", "hdst", "--instance", dms.instance,
                "--migration-type", "cdc", "--table-mappings", str(mappings), *extra)

    create("hist-first")
    dms.start_worker()
    dms.dms("task", "start", "hist-first")
    dms.wait_status("hist-first", "running")
    conn = connect(src)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        (before,) = cur.fetchone()
    execute(src, "INSERT INTO events (id, note) SELECT g, 'first' FROM generate_series(1, 100) g")
    wait_for(lambda: converged(src, dst, "events"), 30, "the first task's changes")

    def acknowledged() -> bool:
        checkpoint = dms.describe("hist-first").get("RecoveryCheckpoint")
        with conn.cursor() as cur:
            cur.execute("SELECT %s::pg_lsn > %s::pg_lsn", (checkpoint or "0/0", before))
            return cur.fetchone()[0]

    wait_for(acknowledged, 15, "the checkpoint to pass the changes")
    conn.close()
    dms.dms("task", "stop", "hist-first")
    text = dms.dms("task", "describe", "hist-first").stdout
    first = dms.describe("hist-first")
    checkpoint = first["RecoveryCheckpoint"]
    assert first["StopReason"] == "Stop Reason NORMAL"
    assert first["ReplicationTaskStartDate"] <= first["ReplicationTaskStats"]["StopDate"] <= time.time()
    assert re.search(r"^started\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text, re.M), text
    assert re.search(r"^stopped\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text, re.M), text
    assert "StopReason: Stop Reason NORMAL" in text and f"RecoveryCheckpoint: {checkpoint}" in text

    # Written while nothing replicates; a new task picks up from the checkpoint, in DMS's checkpoint form.
    execute(src, "INSERT INTO events (id, note) SELECT g, 'between' FROM generate_series(101, 200) g",
            "UPDATE events SET note = 'updated between' WHERE id <= 10")
    position = f"checkpoint:V1#1#{checkpoint}#0#0#*#0#0"
    create("hist-second", "--cdc-start-position", position)
    dms.dms("task", "start", "hist-second")
    wait_for(lambda: converged(src, dst, "events"), 30, "the second task to apply what came after the checkpoint")
    assert dms.describe("hist-second")["CdcStartPosition"] == checkpoint  # the position it stands for

    # The slot goes away under the running task: it fails, and says why.
    def drop_slot() -> bool:
        try:
            execute(src, f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                         f"WHERE slot_name = '{slot}' AND active_pid IS NOT NULL",
                    f"SELECT pg_drop_replication_slot('{slot}')")
            return True
        except psycopg2.Error:
            return False

    wait_for(drop_slot, 20, "the slot to be dropped", interval=0.05)
    failed = dms.wait_status("hist-second", "failed", timeout=60)
    assert failed["StopReason"] == "Stop Reason FATAL_ERROR"
    assert slot in failed["LastFailureMessage"]
    text = dms.dms("task", "describe", "hist-second").stdout
    assert f"LastFailureMessage: {failed['LastFailureMessage']}" in text
