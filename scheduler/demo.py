"""`dms demo`: a real full-load-and-cdc migration between two SQLite files, with nothing to install.

It makes a small shop database, defines endpoints, an instance and a task in the user's catalog, runs
the task with a worker in this process while a writer changes the source, waits until the target has
caught up, validates row by row and leaves everything behind to inspect.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.base import Endpoint
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.states import ACTIVE, Phase, Status
from connectors.sqlite.connect import remove_database
from worker.state import StateStore

from .foreground import CONCURRENCY, log_path
from .status import describe, table_statistics
from .submit import start_task, stop_task, wait_until_stopped
from .validate import validate_task

TASK, INSTANCE, SOURCE, TARGET = "demo", "demo", "demo-source", "demo-target"
SIZES = {"customers": 2_000, "products": 500, "orders": 20_000}
MAPPINGS = {"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "everything",
                       "object-locator": {"schema-name": "%", "table-name": "%"}, "rule-action": "include"}]}
SETTINGS = {"FullLoadSettings": {"CommitRate": 2000}}  # small batches: the writer's changes land mid-load
COUNTRIES = ("DE", "FR", "US", "BR", "JP", "IN", "NG", "SE")
STATUSES = ("new", "paid", "shipped", "delivered", "returned")


def make_source(path: Path, seed: int = 7) -> None:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, country CHAR(2),
                                    vip BOOLEAN NOT NULL DEFAULT 0, created_at TIMESTAMP);
            CREATE TABLE products (id INTEGER PRIMARY KEY, sku VARCHAR(16) NOT NULL, title TEXT,
                                   price NUMERIC(10,2), weight_kg REAL, thumbnail BLOB);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, product_id INTEGER NOT NULL,
                                 quantity INTEGER NOT NULL, amount NUMERIC(12,2), status VARCHAR(12),
                                 ordered_at TIMESTAMP, note TEXT);
        """)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", (
            (i, f"Customer {i}", f"customer{i}@example.com", rnd.choice(COUNTRIES), int(rnd.random() < 0.1),
             (start + timedelta(minutes=7 * i)).isoformat()) for i in range(1, SIZES["customers"] + 1)))
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)", (
            (i, f"SKU-{i:06d}", f"Product {i}", round(rnd.uniform(1, 500), 2), round(rnd.uniform(0.1, 20), 3),
             rnd.randbytes(64)) for i in range(1, SIZES["products"] + 1)))
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            _order(rnd, i, start) for i in range(1, SIZES["orders"] + 1)))


def _order(rnd: random.Random, i: int, start: datetime) -> tuple:
    quantity = rnd.randint(1, 5)
    return (i, rnd.randint(1, SIZES["customers"]), rnd.randint(1, SIZES["products"]), quantity,
            round(quantity * rnd.uniform(1, 500), 2), rnd.choice(STATUSES),
            (start + timedelta(seconds=90 * i)).isoformat(), None if rnd.random() < 0.7 else f"note {i}")


class Writer(threading.Thread):
    """The application that keeps using the source while it is migrated: small transactions."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.counts = {"inserts": 0, "updates": 0, "deletes": 0}
        self.halt = threading.Event()

    def run(self) -> None:
        rnd, start = random.Random(11), datetime(2026, 6, 1, tzinfo=UTC)
        db = sqlite3.connect(self.path, timeout=30)
        next_id = SIZES["orders"] + 1
        while not self.halt.wait(0.01):
            with db:
                for _ in range(5):
                    roll = rnd.random()
                    if roll < 0.4:
                        db.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _order(rnd, next_id, start))
                        next_id += 1
                        self.counts["inserts"] += 1
                    elif roll < 0.85:
                        cur = db.execute("UPDATE orders SET status = ?, amount = amount + 1 WHERE id = ?",
                                         (rnd.choice(STATUSES), rnd.randint(1, next_id - 1)))
                        self.counts["updates"] += cur.rowcount
                    else:
                        cur = db.execute("DELETE FROM orders WHERE id = ?", (rnd.randint(1, next_id - 1),))
                        self.counts["deletes"] += cur.rowcount
        db.close()

    def stop(self) -> dict[str, int]:
        self.halt.set()
        self.join()
        return self.counts


def _define(catalog: Catalog, state: StateStore, folder: Path) -> tuple[Path, Path]:
    """A fresh pair of files and catalog entries; what an earlier demo left is replaced."""
    if TASK in {t.id for t in catalog.tasks()}:
        if state.status(TASK) in ACTIVE:
            stop_task(state, TASK)
            wait_until_stopped(state, TASK, 60)
        state.forget_task(TASK)  # its files are replaced below, triggers and checkpoints with them
        catalog.delete_task(TASK)
    for endpoint_id in (SOURCE, TARGET):
        if endpoint_id in {e.id for e in catalog.endpoints(decrypt=False)}:
            catalog.delete_endpoint(endpoint_id)
    if INSTANCE not in {str(i["id"]) for i in catalog.instances()}:
        catalog.add_instance(INSTANCE)
    folder.mkdir(parents=True, exist_ok=True)
    source, target = folder / "source.db", folder / "target.db"
    for path in (source, target):
        remove_database(path)
    make_source(source)
    catalog.add_endpoint(Endpoint(SOURCE, "source", "sqlite", database=str(source.resolve())))
    catalog.add_endpoint(Endpoint(TARGET, "target", "sqlite", database=str(target.resolve())))
    catalog.add_task(TaskDef(TASK, SOURCE, TARGET, INSTANCE, "full-load-and-cdc", json.dumps(MAPPINGS),
                             json.dumps(SETTINGS)))
    return source, target


def _marker_latency(source: Path, target: Path, timeout: float = 30) -> float:
    """One more change on the source, and the time until the target shows it."""
    stamp = f"latency probe {time.time()}"
    with sqlite3.connect(source, timeout=30) as db:
        db.execute("UPDATE customers SET name = ? WHERE id = 1", (stamp,))
    made = time.monotonic()
    with sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=30) as db:
        while time.monotonic() - made < timeout:
            rows = db.execute("SELECT name FROM customers WHERE id = 1").fetchall()
            if rows and rows[0][0] == stamp:
                return time.monotonic() - made
            time.sleep(0.01)
    raise TimeoutError(f"a change made on the source did not reach the target within {timeout:.0f} s")


def run(folder: Path, console: Console) -> bool:
    """The whole demo; True when source and target are identical at the end."""
    from worker.app import redis_client
    from worker.instance import in_process

    began = time.monotonic()
    catalog, state = Catalog(), StateStore(redis_client())
    source, target = _define(catalog, state, folder)
    task = catalog.task(TASK)
    console.print(f"[bold]OpenDMS demo[/]: full load and ongoing replication, {source} -> {target}")
    writer = Writer(source)
    with open(log_path(TASK), "a") as log, in_process(INSTANCE, CONCURRENCY, log):
        writer.start()  # the application is busy before, during and after the load
        start_task(catalog, state, TASK, "start-replication")
        with Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[state]}"), TimeElapsedColumn(), console=console) as progress:
            bars = {name: progress.add_task(name, total=n, state="queued") for name, n in SIZES.items()}
            changes = progress.add_task("changes", total=None, state="made on the source during the load")
            while describe(task, state)["Phase"] != Phase.ONGOING_REPLICATION:
                if state.status(TASK) == Status.FAILED:
                    break
                for entry in table_statistics(task, state)["TableStatistics"]:
                    if entry["TableName"] in bars:
                        progress.update(bars[entry["TableName"]], completed=entry["FullLoadRows"],
                                        state=entry["TableState"])
                progress.update(changes, completed=sum(writer.counts.values()))
                time.sleep(0.1)
            time.sleep(1.5)  # replication goes on; so does the application, for a moment
            made = writer.stop()
            for entry in table_statistics(task, state)["TableStatistics"]:  # the last frame shows the end state
                if entry["TableName"] in bars:
                    progress.update(bars[entry["TableName"]], completed=entry["FullLoadRows"],
                                    state=entry["TableState"])
            progress.update(changes, completed=sum(made.values()), state="made on the source")
        doc = describe(task, state)
        if doc["Status"] == Status.FAILED:
            console.print(f"[red]the task failed[/]: {doc.get('LastFailureMessage', '')} (log: {log_path(TASK)})")
            return False
        latency = _marker_latency(source, target)
        results = validate_task(catalog, state, TASK)
        stop_task(state, TASK)
        wait_until_stopped(state, TASK, 60)
    stats = {e["TableName"]: e for e in table_statistics(task, state)["TableStatistics"]}
    _summary(console, stats, made, latency, results, time.monotonic() - began, source, target)
    return all(r.equal for r in results)


def _summary(console: Console, stats: dict, made: dict[str, int], latency: float, results: list,
             seconds: float, source: Path, target: Path) -> None:
    loaded = sum(s["FullLoadRows"] for s in stats.values())
    applied = sum(s["Inserts"] + s["Updates"] + s["Deletes"] for s in stats.values())
    console.print()
    console.print(f"  {'table':<10} {'loaded':>7}  {'inserts':>7} {'updates':>7} {'deletes':>7}  state")
    for name, s in stats.items():
        console.print(f"  {name:<10} {s['FullLoadRows']:>7,}  {s['Inserts']:>7} {s['Updates']:>7} {s['Deletes']:>7}  "
                      f"{s['TableState']}")
    console.print(f"  {len(stats)} tables, {loaded:,} rows loaded, {applied:,} changes applied")
    console.print(f"  (the writer made {made['inserts']} inserts, {made['updates']} updates and {made['deletes']} "
                  "deletes before, during and after the load)")
    console.print(f"  latency: a change made on the source was on the target {latency * 1000:.0f} ms later")
    rows = sum(r.source_rows for r in results)
    if all(r.equal for r in results):
        console.print(f"  [bold green]source and target are identical[/] ({len(results)} tables, {rows:,} rows, "
                      "compared row by row)")
    else:
        for r in results:
            if not r.equal:
                console.print(f"  [bold red]{r.table} differs[/]: {r.mismatches} mismatched records")
    console.print(f"  done in {seconds:.1f} s")
    console.print(f"\n  source: {source.resolve()}\n  target: {target.resolve()}")
    dms = dms_command()
    console.print("  go on with:")
    for command in (f"{dms} task stats {TASK}", f"{dms} task describe {TASK}",
                    f"{dms} task start {TASK}      # resumes replication until Ctrl-C",
                    f"sqlite3 {target} 'SELECT count(*) FROM orders'"):
        console.print(f"    {command}", highlight=False, soft_wrap=True)


def dms_command() -> str:
    """How this shell reaches `dms`: the name when it is on PATH, else the script beside this Python (a
    virtualenv not activated, as after the README's first command), else the module."""
    script = Path(sys.executable).parent / "dms"
    on_path = shutil.which("dms")
    if on_path and (not script.exists() or Path(on_path).resolve() == script.resolve()):
        return "dms"
    if script.exists():
        with contextlib.suppress(ValueError):
            return str(script.resolve().relative_to(Path.cwd().resolve()))
        return str(script)
    return f"{Path(sys.executable).name} -m scheduler.cli"
