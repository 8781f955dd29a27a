"""What every benchmark shares: throwaway servers, the benchmark table, OpenDMS tasks, figures."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dms_env import DmsEnv, execute  # noqa: E402
from services import PostgresServer, RedisServer, fresh_db  # noqa: E402

from worker.state import StateStore  # noqa: E402

__all__ = ["DmsEnv", "PostgresServer", "RedisServer", "Servers", "execute", "fresh_db"]

# The table: bigint key, integer, numeric(12,2), 40-character text, timestamptz, boolean, small jsonb.
TABLE = """CREATE TABLE {name} (id bigint PRIMARY KEY, i integer, n numeric(12,2), t text, ts timestamptz,
                               b boolean, j jsonb)"""
FILL = """INSERT INTO {name} SELECT g, (g::bigint * 7919) % 100000, (g % 100000) / 100.0, md5(g::text) || 'abcdefgh',
          timestamptz '2024-01-01' + g * interval '1 second', g % 3 = 0, jsonb_build_object('k', g % 1000)
          FROM generate_series(1, {rows}) g"""


# The baselines copy every value whole, so OpenDMS loads without DMS's default 32 KB LOB limit too
# (full LOB mode): the same work on both sides, and the bytes can pass straight through.
FULL_LOBS = {"TargetMetadata": {"FullLobMode": True, "LimitedSizeLobMode": False}}


def arguments(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, its --help the module's docstring as written."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


@dataclass
class Servers:
    source: PostgresServer
    target: PostgresServer
    redis: RedisServer


@contextmanager
def servers() -> Iterator[Servers]:
    """A source with wal_level=logical, a target, and Redis: started for the run, removed after it."""
    started: list[Any] = []
    try:
        for server, args in ((PostgresServer(), {"logical": True}), (PostgresServer(), {"logical": False}),
                             (RedisServer(), {})):
            started.append(server.start(**args))
        # A re-enabled subscription's apply worker would otherwise wait 5 s to start: time that
        # measures the launcher, not the apply.
        execute(started[1].url, "ALTER SYSTEM SET wal_retrieve_retry_interval = '200ms'", "SELECT pg_reload_conf()")
        yield Servers(*started)
    finally:
        for server in started:
            server.stop()


@contextmanager
def opendms(redis_url: str) -> Iterator[DmsEnv]:
    with tempfile.TemporaryDirectory() as tmp:
        env = DmsEnv(Path(tmp), redis_url)
        try:
            yield env
        finally:
            env.close()


def create_table(url: str, name: str, rows: int) -> None:
    execute(url, TABLE.format(name=name), FILL.format(name=name, rows=rows) if rows else "SELECT 1",
            f"VACUUM ANALYZE {name}")


def query(url: str, sql: str, args: Any = None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def text_mb(url: str, tables: list[str]) -> float:
    """Size of the tables as COPY text, in MB: the bytes any loader has to move."""
    return sum(float(query(url, f"SELECT coalesce(sum(length({t}::text) + 1), 0) FROM {t}")[0][0])
               for t in tables) / 1e6


def checkpoint(*urls: str) -> None:
    """Before each run, so that no run pays for the WAL its predecessor wrote."""
    for url in urls:
        execute(url, "CHECKPOINT")


def state_of(env: DmsEnv) -> StateStore:
    return StateStore(redis.Redis.from_url(env.env["DMS_REDIS_URL"], decode_responses=True))


def wait_status(env: DmsEnv, task: str, statuses: tuple[str, ...], timeout: float = 3600) -> str:
    """Poll Redis itself: a `dms` process per poll would eat the CPU the run needs."""
    live = state_of(env)
    deadline = time.monotonic() + timeout
    while (status := live.status(task)) not in statuses:
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {task} still {status} after {timeout}s")
        time.sleep(0.02)
    return status


def create_task(env: DmsEnv, name: str, source: str, target: str, kind: str, table: str) -> None:
    """A task of existing endpoints that selects the one table public.`table`."""
    mappings = env.tmp / f"{name}.json"
    mappings.write_text(json.dumps({"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1",
                                               "rule-action": "include",
                                               "object-locator": {"schema-name": "public", "table-name": table}}]}))
    env.dms("task", "create", name, "--source", source, "--target", target, "--instance", env.instance,
            "--migration-type", kind, "--table-mappings", str(mappings))


def load_seconds(env: DmsEnv, task: str) -> float:
    """Starts a created full-load task and waits for its end: the seconds from `dms task start` to the
    StopDate its worker records when the last table is loaded."""
    started = time.time()
    env.dms("task", "start", task)
    if wait_status(env, task, ("stopped", "failed")) != "stopped":
        raise RuntimeError(f"benchmark task {task} failed: {env.describe(task).get('LastFailureMessage')}")
    return float(state_of(env).task(task)["StopDate"]) - started


def full_load_seconds(env: DmsEnv, src: str, dst: str, name: str, settings: dict | None) -> float:
    """A full-load task between two databases by URL, with these task settings, run: see load_seconds."""
    env.task(name, src, dst, "full-load", settings=settings)
    return load_seconds(env, name)


def wait_row(url: str, sql: str, timeout: float = 3600) -> float:
    """Poll until the query returns a row; the monotonic time it was first seen."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    deadline = time.monotonic() + timeout
    try:
        with conn.cursor() as cur:
            while True:
                try:
                    cur.execute(sql)
                    if cur.fetchone():
                        return time.monotonic()
                except psycopg2.errors.UndefinedTable:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out waiting for: {sql}")
                time.sleep(0.01)
    finally:
        conn.close()


def pipe(commands: list[list[str]]) -> float:
    """Run a shell-style pipeline of commands; its wall time in seconds."""
    started = time.monotonic()
    procs: list[subprocess.Popen] = []
    stdin = None
    for n, cmd in enumerate(commands):
        last = n == len(commands) - 1
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL if last else subprocess.PIPE)
        if stdin is not None:
            stdin.close()
        stdin = proc.stdout
        procs.append(proc)
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"{' '.join(proc.args)} exited {proc.returncode}")
    return time.monotonic() - started


def wait_workers(env: DmsEnv, count: int) -> None:
    """Until `count` workers of the instance say they are alive (their queues are being consumed)."""
    live = state_of(env)
    deadline = time.monotonic() + 60
    while len(live.workers(env.instance)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} OpenDMS workers came up")
        time.sleep(0.05)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


_TICK = os.sysconf("SC_CLK_TCK")


def postmaster_pid(server: PostgresServer) -> int | None:
    """None for a server the bench did not start (DMS_TEST_PG_URL): its processes may be elsewhere."""
    return int((Path(server.dir) / "postmaster.pid").read_text().split()[0]) if server.dir else None


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) that a process and all its descendants have used so far, those
    already exited and reaped included: a PostgreSQL server's, from its postmaster."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            ticks += sum(int(v) for v in stats[pid][11:15])  # utime, stime, and of reaped children
            todo += children.get(pid, [])
    return ticks / _TICK


class CpuMeter:
    """CPU seconds each named process tree uses within a ``with`` block: where a run's time goes."""

    def __init__(self, **roots: int | None) -> None:
        self.roots = roots
        self.seconds: dict[str, float | None] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {name: tree_cpu(pid) for name, pid in self.roots.items() if pid is not None}
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = {name: round(tree_cpu(pid) - self._start[name], 2) if pid is not None else None
                        for name, pid in self.roots.items()}


def median(values: list[float]) -> float:
    return statistics.median(values)


def versus(timings: dict[str, list[float]], rows: int, baseline: str, ratio_key: str, digits: int = 3,
           extra: Callable[[str, float], dict[str, Any]] = lambda method, seconds: {}
           ) -> tuple[dict[str, dict], list[list[Any]]]:
    """Each method's figures from its timed runs: median seconds, rows/s, the `extra` ones (of the method and
    its median seconds), its speed as a multiple of the `baseline` method's, each run; and the rows of a
    print_table of them (method, seconds, rows/s, the extra figures, the multiple)."""
    base = median(timings[baseline])
    figures: dict[str, dict] = {}
    table = []
    for method, values in timings.items():
        seconds = median(values)
        more = extra(method, seconds)
        figures[method] = found = {"seconds": round(seconds, digits), "rows_per_s": int(rows / seconds), **more,
                                   ratio_key: round(base / seconds, digits), "runs": [round(v, digits) for v in values]}
        table.append([method, seconds, found["rows_per_s"], *more.values(), f"{found[ratio_key]:.2f}x"])
    return figures, table


def print_table(title: str, header: list[str], rows: list[list[Any]], notes: list[str] = ()) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    for row in [header, *cells]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    for note in notes:
        print(note)
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
