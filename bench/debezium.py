"""Debezium's PostgreSQL connector on Kafka Connect, as bench/kafka.py runs it beside OpenDMS.

deploy/debezium.sh starts a standalone Connect worker (Debezium 3.6.1.Final and Kafka Connect 4.3.2, the
version Debezium is built for, from Maven Central) against the same broker; the connector is posted to its
REST API when the benchmark starts it, paused and resumed there. Its settings are Debezium's defaults but
for what makes the records comparable with DMS's: JSON without schemas, numerics as strings, the pgoutput
plugin and a publication of the one table. Its records are not transactional, so a topic's end offset is
its record count.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from kafka import KafkaConsumer, TopicPartition
from services import free_port

from .common import REPO, execute

PREFIX = "dbz"


class Debezium:
    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.dir = Path(tempfile.mkdtemp(prefix="bench-connect-"))
        self.url = ""

    def start_worker(self) -> Debezium:
        """Kafka Connect with Debezium's plugin (installed into ~/.cache/opendms the first time)."""
        proc = subprocess.run([str(REPO / "deploy" / "debezium.sh"), "start", str(self.dir), str(free_port()),
                               self.broker], capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"deploy/debezium.sh start failed:\n{proc.stderr[-3000:]}")
        self.url = proc.stdout.strip().splitlines()[-1]
        return self

    def stop_worker(self) -> None:
        subprocess.run([str(REPO / "deploy" / "debezium.sh"), "stop", str(self.dir)], capture_output=True,
                       timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)

    def topic(self, table: str) -> str:
        return f"{PREFIX}.public.{table}"

    def start(self, src: str, table: str, snapshot: str = "initial") -> None:
        """The connector of one table, named after it: a snapshot of the table (its full load) unless
        ``snapshot`` is "no_data", then its changes."""
        u = urlsplit(src)
        config = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "tasks.max": "1",
                  "plugin.name": "pgoutput", "database.hostname": u.hostname, "database.port": str(u.port),
                  "database.user": u.username, "database.password": u.password or "",
                  "database.dbname": u.path.lstrip("/"), "topic.prefix": PREFIX,
                  "table.include.list": f"public.{table}", "slot.name": f"dbz_{table}",
                  "publication.name": f"dbz_{table}", "publication.autocreate.mode": "filtered",
                  "decimal.handling.mode": "string", "snapshot.mode": snapshot}
        self._rest("POST", "/connectors", {"name": table, "config": config})

    def pause(self, table: str) -> None:
        self._rest("PUT", f"/connectors/{table}/pause")

    def resume(self, table: str) -> None:
        self._rest("PUT", f"/connectors/{table}/resume")

    def delete(self, src: str, table: str) -> None:
        self._rest("DELETE", f"/connectors/{table}")
        deadline = time.monotonic() + 60  # the task lets go of the slot once it has stopped
        while time.monotonic() < deadline:
            try:
                execute(src, f"SELECT pg_drop_replication_slot('dbz_{table}')")
                return
            except Exception:
                time.sleep(0.5)

    def _rest(self, method: str, path: str, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()


def end_offset(broker: str, topic: str) -> int:
    """The records in a topic of one partition that no transaction writes (0 before it exists)."""
    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, group_id=None)
    try:
        if topic not in consumer.topics():
            return 0
        part = TopicPartition(topic, 0)
        return consumer.end_offsets([part])[part]
    finally:
        consumer.close()


def wait_offset(broker: str, topic: str, count: int, timeout: float = 7200) -> float:
    """Until the topic holds ``count`` records: the monotonic time then."""
    consumer = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False, group_id=None)
    deadline = time.monotonic() + timeout
    try:
        part = TopicPartition(topic, 0)
        while time.monotonic() < deadline:
            if topic in consumer.topics() and consumer.end_offsets([part])[part] >= count:
                return time.monotonic()
            time.sleep(0.1)
        raise RuntimeError(f"topic {topic} did not reach {count} records in {timeout:.0f} s")
    finally:
        consumer.close()
