"""Latency into Kafka: a steady stream of inserts (bench/latency.py's), and how long each takes from its
commit on the source until a read_committed consumer of the topic has it, OpenDMS beside Debezium.

Every source row records when it was written (``committed``, clock_timestamp()); a consumer in this process
notes, for each record of the topic, the wall-clock time it received it. Both share this machine's clock.
The two run one after the other, each alone: a `cdc` task of table ``lat`` into a topic of its own, then
Debezium's connector of the table (no snapshot). Each is sent warm-up rows until one arrives, so that only
streaming is timed.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from .common import DmsEnv, create_task, execute, wait_status
from .debezium import Debezium
from .latency import steady

SOURCE = "CREATE TABLE lat (id bigint PRIMARY KEY, v int, committed timestamptz)"
WARM_UP = "INSERT INTO lat VALUES (0, 0, clock_timestamp())"  # row 0: not timed


class Watch(threading.Thread):
    """A read_committed consumer of one topic: for each row id, the seconds from its commit to its receipt."""

    def __init__(self, broker: str, topic: str, row: Callable[[dict], dict | None]) -> None:
        super().__init__(daemon=True)
        self.broker, self.topic, self.row = broker, topic, row
        self.lags: dict[int, float] = {}
        self.last = -1  # the row id to stop at
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            consumer = KafkaConsumer(bootstrap_servers=self.broker, isolation_level="read_committed",
                                     enable_auto_commit=False, group_id=None, fetch_max_wait_ms=10)
            try:
                while self.topic not in consumer.topics():
                    time.sleep(0.05)
                part = TopicPartition(self.topic, 0)
                consumer.assign([part])
                consumer.seek_to_beginning(part)
                while self.last < 0 or self.last not in self.lags:
                    for messages in consumer.poll(timeout_ms=100).values():
                        now = time.time()
                        for m in messages:
                            row = self.row(json.loads(m.value)) if m.value else None
                            if row is not None:
                                self.lags[int(row["id"])] = now - datetime.fromisoformat(row["committed"]).timestamp()
            finally:
                consumer.close()
        except BaseException as exc:  # told to the waiting thread
            self.failure = exc

    def wait_for(self, row_id: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while row_id not in self.lags:
            if self.failure is not None or not self.is_alive() and self.last >= 0:
                raise RuntimeError(f"watching {self.topic} failed: {self.failure}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"row {row_id} did not reach topic {self.topic} in {timeout:.0f} s")
            time.sleep(0.05)


def _opendms_row(doc: dict) -> dict | None:
    meta = doc.get("metadata", {})
    return doc["data"] if meta.get("record-type") == "data" and meta.get("table-name") == "lat" else None


def _debezium_row(doc: dict) -> dict | None:
    return doc.get("after") if doc.get("op") in ("c", "r") else None


def run(dms: DmsEnv, source: str, src: str, broker: str, debezium: Debezium, *, rate: int, seconds: float
        ) -> dict[str, Any]:
    """Both systems' latency figures (seconds, from commit to a consumer's receipt) at ``rate`` inserts/s."""
    execute(src, SOURCE)
    figures: dict[str, Any] = {}
    first = 1

    def measure(name: str, topic: str, row: Callable[[dict], dict | None], start: Callable[[], None]) -> None:
        nonlocal first
        watch = Watch(broker, topic, row)
        watch.start()
        start()
        for _ in range(300):  # a warm-up row, again every 2 s, until one arrives: capture has begun
            execute(src, "DELETE FROM lat WHERE id = 0", WARM_UP)
            try:
                watch.wait_for(0, timeout=2)
                break
            except RuntimeError:
                pass
        watch.wait_for(0, timeout=1)
        last = steady(src, first, rate, seconds)
        watch.last = last
        watch.wait_for(last)
        lags = sorted(watch.lags[i] for i in range(first, last + 1) if i in watch.lags)
        cuts = statistics.quantiles(lags, n=100) if len(lags) > 1 else lags * 99
        figures[name] = {"changes": len(lags), "p50_s": round(cuts[49], 3), "p95_s": round(cuts[94], 3),
                         "p99_s": round(cuts[98], 3), "max_s": round(lags[-1], 3)}
        first = last + 1

    dms.dms("endpoint", "create", "k-lat", "--type", "target", "--engine", "kafka", "--kafka-settings",
            json.dumps({"Broker": broker, "Topic": "dms-lat"}))
    create_task(dms, "klat", source, "k-lat", "cdc", "lat")

    def start_opendms() -> None:
        dms.dms("task", "start", "klat")
        wait_status(dms, "klat", ("running",))

    measure("opendms", "dms-lat", _opendms_row, start_opendms)
    dms.dms("task", "stop", "klat")
    measure("debezium", debezium.topic("lat"), _debezium_row, lambda: debezium.start(src, "lat", "no_data"))
    debezium.delete(src, "lat")
    return figures
