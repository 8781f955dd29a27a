"""An isolated OpenDMS installation for one test: catalog, endpoints, workers, all real processes.

The CLI runs as `dms` subprocesses (real exit codes and stderr); workers are `dms worker`
processes that tests may kill with SIGKILL. Names are unique per test, so tests share servers.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

from connectors.model.states import Phase, Status, StopReason, TableState, ValidationState

SQLITE = "sqlite:///"  # tests name a SQLite file as sqlite:///PATH, a PostgreSQL database by its URL
SELECT_ALL = {"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "all", "rule-action": "include",
                         "object-locator": {"schema-name": "%", "table-name": "%"}}]}


def check_states(doc: dict[str, Any], **enums: Any) -> None:
    """Every state a document shows is a member of its enum (connectors/model/states.py)."""
    for key, kinds in enums.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if key in doc:
            assert any(doc[key] in {m.value for m in kind} for kind in kinds), f"{key} {doc[key]!r} is no state"


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition", interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def rows(url: str, table: str, order: str = "1") -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY {order}")
        result = cur.fetchall()
    conn.close()
    return result


def table_text(url: str, table: str) -> list[str]:
    """Each row's text form, in key order: exact, and NaN equals NaN (unlike Python's floats)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT t::text FROM {table} t ORDER BY 1")
        result = [r[0] for r in cur.fetchall()]
    conn.close()
    return result


def converged(src: str, dst: str, *tables: str) -> bool:
    """Every table equal on both sides (False while a table does not exist on the target yet)."""
    try:
        return all(table_text(src, t) == table_text(dst, t) for t in tables)
    except psycopg2.Error:
        return False


def connect(url: str) -> Any:
    """A DB-API connection in autocommit mode: a postgresql:// URL, or sqlite:///PATH for a SQLite file."""
    if url.startswith(SQLITE):
        return sqlite3.connect(url.removeprefix(SQLITE), timeout=30, isolation_level=None)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def as_user(url: str, user: str, password: str) -> str:
    """The same database's URL for another user."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


def limited_user(url: str) -> tuple[str, str]:
    """A new login role on the database that is no superuser: it may create in public (its own tables,
    OpenDMS's control tables) and owns nothing yet. Returns the role and the database's URL for it."""
    role, password = f"lim_{secrets.token_hex(3)}", secrets.token_hex(8)
    db = urlsplit(url).path.lstrip("/")
    execute(url, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'", f'GRANT CONNECT ON DATABASE "{db}" TO {role}',
            f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    return role, as_user(url, role, password)


def execute(url: str, *statements: str) -> None:
    conn = connect(url)
    cur = conn.cursor()
    for sql in statements:
        cur.execute(sql)
    conn.close()


class DmsEnv:
    """One OpenDMS installation: its catalog, an instance, workers. With redis_url None it is the embedded
    mode: no DMS_REDIS_URL, a private Redis under its own data directory, tasks run by `dms task start`."""

    def __init__(self, tmp: Path, redis_url: str | None, lease_seconds: float = 3) -> None:
        self.tmp = tmp
        self.suffix = secrets.token_hex(3)
        self.instance = f"ri-{self.suffix}"
        self.embedded = redis_url is None
        env = {key: value for key, value in os.environ.items() if key != "DMS_REDIS_URL"}
        self.env = {
            **env,
            "DMS_CATALOG_URL": f"sqlite:///{tmp / 'catalog.db'}",
            "XDG_DATA_HOME": str(tmp / "data"),
            "DMS_LEASE_SECONDS": str(lease_seconds),
            "DMS_LOG_LEVEL": "INFO",
        }
        if redis_url is not None:
            self.env["DMS_REDIS_URL"] = redis_url
        self.workers: list[subprocess.Popen] = []
        self.foreground: dict[str, subprocess.Popen] = {}
        self.dms("instance", "create", self.instance)

    @property
    def redis_url(self) -> str:
        return f"unix://{self.tmp / 'data' / 'opendms' / 'redis' / 'redis.sock'}" if self.embedded \
            else self.env["DMS_REDIS_URL"]

    def start(self, task: str) -> None:
        """`dms task start`: in the embedded mode with no worker, it runs the task until interrupted."""
        if self.embedded and not any(w.poll() is None for w in self.workers):
            log = open(self.tmp / f"foreground-{task}.log", "w")  # noqa: SIM115
            self.foreground[task] = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "task", "start", task], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
            wait_for(lambda: self.foreground[task].poll() is not None or self.describe(task)["Status"] != "ready",
                     60, f"task {task} to start in the foreground")
        else:
            self.dms("task", "start", task)

    def interrupt(self, task: str) -> str:
        """Ctrl-C on a task running in the foreground: it stops at its checkpoint; returns what it printed."""
        proc = self.foreground.pop(task)
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # its threads' stacks into its log (scheduler/foreground.py)
            time.sleep(2)
            proc.kill()
            raise AssertionError(f"dms task start {task} did not stop on SIGINT in 120 s; its output and its "
                                 f"stacks:\n{(self.tmp / f'foreground-{task}.log').read_text()[-20000:]}") from None
        out = (self.tmp / f"foreground-{task}.log").read_text()
        assert code == 0, f"dms task start {task} exited {code}:\n{out}"
        return out

    # -- CLI ------------------------------------------------------------------------------------

    def dms(self, *args: str, check: bool = True, timeout: float = 120,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "scheduler", *args], env={**self.env, **(env_extra or {})},
                              capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"dms {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.dms(*args, "--json").stdout)

    def endpoint(self, name: str, kind: str, url: str) -> str:
        """An endpoint for a postgresql:// URL, a mysql:// one (MariaDB) or a sqlite:///PATH one."""
        if url.startswith(SQLITE):
            self.dms("endpoint", "create", name, "--type", kind, "--engine", "sqlite",
                     "--database", url.removeprefix(SQLITE))
            return name
        u = urlsplit(url)
        engine = {"mysql": "mariadb"}.get(u.scheme, "postgres")  # mysql:// URLs are the tests' MariaDB servers
        self.dms("endpoint", "create", name, "--type", kind, "--engine", engine, "--host", u.hostname,
                 "--port", str(u.port), "--database", u.path.lstrip("/"), "--user", u.username,
                 "--password", u.password or "")
        return name

    def task(self, name: str, source_url: str, target_url: str, migration_type: str,
             mappings: dict | None = None, settings: dict | None = None) -> str:
        src = self.endpoint(f"src-{self.suffix}-{name}", "source", source_url)
        dst = self.endpoint(f"dst-{self.suffix}-{name}", "target", target_url)
        mapping_file = self.tmp / f"{name}-mappings.json"
        if mappings is None and source_url.startswith("mysql://"):
            # A MariaDB server's databases are DMS's schemas, and tests share the server: "%" would select every
            # other test's tables too (CI once validated another test's changing tables against this one's).
            mappings = {"rules": [{**SELECT_ALL["rules"][0], "object-locator": {
                "schema-name": urlsplit(source_url).path.lstrip("/"), "table-name": "%"}}]}
        mapping_file.write_text(json.dumps(mappings or SELECT_ALL))
        args = ["task", "create", name, "--source", src, "--target", dst, "--instance", self.instance,
                "--migration-type", migration_type, "--table-mappings", str(mapping_file)]
        if settings:
            settings_file = self.tmp / f"{name}-settings.json"
            settings_file.write_text(json.dumps(settings))
            args += ["--settings", str(settings_file)]
        self.dms(*args)
        return name

    def describe(self, task: str) -> dict:
        doc = self.json("task", "describe", task)["ReplicationTasks"][0]
        check_states(doc, Status=Status, Phase=(Phase, Status), StopReason=StopReason)
        return doc

    def stats(self, task: str) -> dict[str, dict]:
        doc = self.json("task", "stats", task)
        for t in doc["TableStatistics"]:
            check_states(t, TableState=TableState, ValidationState=ValidationState)
        return {f"{t['SchemaName']}.{t['TableName']}": t for t in doc["TableStatistics"]}

    @property
    def state(self) -> Any:
        """The live state in Redis, read directly: fast enough to catch a state that lasts 100 ms."""
        from worker.state import StateStore

        return StateStore(redis.Redis.from_url(self.redis_url, decode_responses=True))

    def table_states(self, task: str) -> dict[str, str]:
        return self.state.table_states(task)

    def wait_status(self, task: str, *statuses: str, timeout: float = 90) -> dict:
        return wait_for(lambda: (d := self.describe(task))["Status"] in statuses and d, timeout,
                        f"task {task} to be {'/'.join(statuses)}")

    def start_live(self, name: str, src: str, dst: str, **task_args: Any) -> None:
        """A full-load-and-cdc task, started (with a worker if none runs) and loaded: CDC applies from now."""
        self.task(name, src, dst, "full-load-and-cdc", **task_args)
        if not any(w.poll() is None for w in self.workers):
            self.start_worker()
        self.dms("task", "start", name)
        self.wait_live(name)

    def wait_live(self, task: str, timeout: float = 90) -> dict:
        """Every table loaded and its cached changes applied."""
        return wait_for(lambda: (d := self.describe(task))["Phase"] == "ongoing-replication" and d, timeout,
                        f"task {task} to reach ongoing replication")

    # -- workers --------------------------------------------------------------------------------

    def start_worker(self, concurrency: int = 4, metrics_port: int | None = None, instance: str | None = None,
                     metrics_address: str | None = None, **env: str) -> subprocess.Popen:
        """A `dms worker` of this installation's instance (or of `instance`), logging to worker-N.log; `env`
        adds to or overrides the installation's environment for this worker only."""
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "w")  # noqa: SIM115
        extra = ["--metrics-port", str(metrics_port)] if metrics_port else []
        extra += ["--metrics-address", metrics_address] if metrics_address else []
        proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "worker", "--instance", instance or self.instance,
             "--concurrency", str(concurrency), *extra],
            env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def kill_when(self, proc: subprocess.Popen, predicate: Callable[[], Any], what: str,
                  timeout: float = 60) -> Any:
        """SIGKILL a worker at a moment ``predicate`` holds, and return what it gave then. The worker is
        stopped (SIGSTOP) and the predicate asked again before the kill: a fast load can move on between a
        look and a kill, and then the test would not kill what it meant to."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                os.killpg(proc.pid, signal.SIGSTOP)
                found = predicate()
                if found:
                    self.kill(proc)
                    return found
                os.killpg(proc.pid, signal.SIGCONT)
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def in_background(self, *args: str) -> Callable[[], subprocess.CompletedProcess]:
        """`dms ARGS` on a thread, for a test that must watch what it starts at once; call the result to
        wait for it (and fail as `dms` does)."""
        done: list[Any] = []
        thread = threading.Thread(target=lambda: done.append(self._or_error(args)), daemon=True)
        thread.start()

        def wait() -> subprocess.CompletedProcess:
            thread.join(130)
            if isinstance(done[0], BaseException):
                raise done[0]
            return done[0]
        return wait

    def _or_error(self, args: tuple[str, ...]) -> Any:
        try:
            return self.dms(*args)
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting test
            return exc

    def worker_log(self, index: int = 0) -> str:
        return (self.tmp / f"worker-{index}.log").read_text()

    def close(self) -> None:
        for proc in [*self.workers, *self.foreground.values()]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.embedded:  # a killed process leaves its embedded Redis running, as a crash would
            import redis

            try:
                redis.Redis.from_url(self.redis_url).shutdown(nosave=True)
            except (redis.ConnectionError, FileNotFoundError):
                pass


class _QmarkCursor:
    """The Writer's statements on SQLite: its parameters are ? where psycopg2's are %s."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.cursor.execute(sql.replace("%s", "?"), params)


class LoopWriter(threading.Thread):
    """A source's application at work until stopped: step() makes one change per turn of the loop, then the
    writer waits `pace` seconds; an error ends the loop and stop() raises it in the test's thread."""

    def __init__(self, url: str, seed: int, pace: float, ops: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.url, self.pace, self.rng = url, pace, random.Random(seed)
        self.stop_event = threading.Event()
        self.counts = dict.fromkeys(ops, 0)  # per kind of change, as step() names them
        self.error: BaseException | None = None

    def open_connection(self) -> Any:
        return connect(self.url)

    def step(self, cur: Any) -> str:
        """Makes one change (one transaction) and returns its kind."""
        raise NotImplementedError

    def run(self) -> None:
        conn = self.open_connection()
        try:
            cur = _QmarkCursor(conn.cursor()) if isinstance(conn, sqlite3.Connection) else conn.cursor()
            while not self.stop_event.is_set():
                self.counts[self.step(cur)] += 1
                time.sleep(self.pace)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            conn.close()

    def stop(self) -> dict[str, int]:
        self.stop_event.set()
        self.join(timeout=30)
        if self.error:
            raise self.error
        return self.counts


class Writer(LoopWriter):
    """Inserts, updates (some re-keying rows) and deletes on the source until stopped."""

    def __init__(self, url: str, table: str, first_new_id: int, pace: float = 0.002) -> None:
        super().__init__(url, 7, pace, ("insert", "update", "rekey", "delete"))
        self.table, self.next_id = table, first_new_id

    def step(self, cur: Any) -> str:
        rng = self.rng
        op = rng.choice(("insert", "insert", "update", "update", "rekey", "delete"))
        if op == "insert":
            self.next_id += 1
            cur.execute(f"INSERT INTO {self.table} (id, i, t, n) VALUES (%s, %s, %s, %s)",
                        (self.next_id, rng.randint(0, 9), f"new {self.next_id}", rng.random() * 100))
        elif op == "update":
            cur.execute(f"UPDATE {self.table} SET i = i + 1, t = t || 'u' "
                        f"WHERE id = (SELECT id FROM {self.table} WHERE id > %s ORDER BY id LIMIT 1)",
                        (rng.randint(0, self.next_id),))
        elif op == "rekey":
            cur.execute(f"UPDATE {self.table} SET id = id + 10000000 "
                        f"WHERE id = (SELECT id FROM {self.table} WHERE id > %s AND id < 10000000 "
                        f"ORDER BY id LIMIT 1)", (rng.randint(0, self.next_id),))
        else:
            cur.execute(f"DELETE FROM {self.table} "
                        f"WHERE id = (SELECT id FROM {self.table} WHERE id > %s ORDER BY id LIMIT 1)",
                        (rng.randint(0, self.next_id),))
        return op


# The numbered-changes table of the stream targets' worker-kill tests (Kafka, Kinesis): SeqWriter writes it.
ITEMS = "CREATE TABLE items (id bigint PRIMARY KEY, seq bigint NOT NULL, t text)"
SEED = "INSERT INTO items SELECT g, 0, 'row ' || g FROM generate_series(1, 3000) g"


class SeqWriter(LoopWriter):
    """One change per transaction, each numbered: inserts and updates set ``seq`` to the change's number, a
    delete removes a row never deleted before; so a consumer can tell a duplicate, a gap and the order."""

    def __init__(self, url: str) -> None:
        super().__init__(url, 16, 0.003, ("insert", "update", "delete"))
        self.seq = 0
        self.deleted: dict[int, int] = {}  # id -> the number of the change that deleted it

    def step(self, cur: Any) -> str:
        self.seq += 1
        roll = self.rng.random()
        if roll < 0.3:
            cur.execute("INSERT INTO items VALUES (%s, %s, 'new')", (100_000 + self.seq, self.seq))
            return "insert"
        if roll < 0.9 or len(self.deleted) > 200:
            cur.execute("UPDATE items SET seq = %s WHERE id = %s", (self.seq, self.rng.randint(1001, 3000)))
            return "update"
        victim = 1 + len(self.deleted)  # ids 1..: never updated (those are 1001..3000)
        cur.execute("DELETE FROM items WHERE id = %s", (victim,))
        self.deleted[victim] = self.seq
        return "delete"

    def stop(self) -> int:  # type: ignore[override]
        super().stop()
        return self.seq
