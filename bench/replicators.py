"""The two things a CDC benchmark compares, behind one small interface: PostgreSQL's own logical
replication (a subscription on a second target database) and an OpenDMS `cdc` task; and, for the
backlog, the rate at which a bare reader gets the stream at all.

Each run gets a fresh subscription or task, so its slot starts at the run and no run replays
what an earlier one wrote.
"""

from __future__ import annotations

import itertools
import select
import time
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extras

from connectors.postgres import pgoutput

from .common import DmsEnv, execute, wait_row, wait_status

_runs = itertools.count(1)


class Native:
    name = "native logical replication"

    def __init__(self, src: str, dst: str, publication: str) -> None:
        self.src, self.dst, self.publication = src, dst, publication
        self.sub = f"bench_sub_{next(_runs)}"

    def start(self) -> None:
        u = urlsplit(self.src)
        conninfo = (f"host={u.hostname} port={u.port} dbname={u.path.lstrip('/')} user={u.username} "
                    f"password={u.password}")
        execute(self.dst, f"CREATE SUBSCRIPTION {self.sub} CONNECTION '{conninfo}' PUBLICATION {self.publication} "
                          "WITH (copy_data = false)")

    def pause(self) -> None:
        execute(self.dst, f"ALTER SUBSCRIPTION {self.sub} DISABLE")

    def resume(self) -> None:
        execute(self.dst, f"ALTER SUBSCRIPTION {self.sub} ENABLE")

    def stop(self) -> None:
        execute(self.dst, f"DROP SUBSCRIPTION {self.sub}")


class OpenDms:
    name = "opendms"

    def __init__(self, dms: DmsEnv, src: str, dst: str) -> None:
        self.dms, self.src, self.dst = dms, src, dst
        self.task = f"cdc{next(_runs)}"

    def start(self) -> None:
        self.dms.task(self.task, self.src, self.dst, "cdc")
        self.dms.dms("task", "start", self.task)

    def pause(self) -> None:
        self.dms.dms("task", "stop", self.task)
        wait_status(self.dms, self.task, ("stopped",))

    def resume(self) -> None:
        self.dms.dms("task", "start", self.task, "--type", "resume-processing")

    def stop(self) -> None:
        self.pause()
        self.dms.dms("task", "delete", self.task)


class PlainReader:
    """The ceiling any client of the source meets: a bare psycopg2 reader of the same pgoutput stream
    that parses every message (OpenDMS's parser) and applies nothing. It reads no faster than the
    source's walsender decodes and sends."""

    name = "plain pgoutput reader (parses, applies nothing)"

    def __init__(self, src: str, publication: str) -> None:
        self.src, self.publication = src, publication
        self.slot = f"bench_reader_{next(_runs)}"

    def start(self) -> None:
        execute(self.src, f"SELECT pg_create_logical_replication_slot('{self.slot}', 'pgoutput')")

    def read_to_fence(self, fence_id: int) -> float:
        """Read from the slot's start until fence row ``fence_id`` is inserted: the monotonic time then."""
        conn = psycopg2.connect(self.src, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        try:
            cur = conn.cursor()
            cur.start_replication(slot_name=self.slot, decode=False,
                                  options={"proto_version": "1", "publication_names": self.publication})
            names: dict[int, tuple[str, tuple[str, ...]]] = {}
            while True:
                msg = cur.read_message()
                if msg is None:
                    select.select([conn], [], [], 0.5)
                    continue
                payload = msg.payload
                if payload[0] in pgoutput.ROW_TAGS:
                    table, columns = names[pgoutput.relid(payload)]
                    tag, _, _, new = pgoutput.row_change(payload, columns)
                    if table == "fence" and new is not None and new["id"] == str(fence_id):
                        return time.monotonic()
                else:
                    m = pgoutput.decode(payload)
                    if isinstance(m, pgoutput.Relation):
                        names[m.relid] = (m.name, tuple(c.name for c in m.columns))
        finally:
            conn.close()

    def stop(self) -> None:
        execute(self.src, f"SELECT pg_drop_replication_slot('{self.slot}')")


class Fence:
    """Rows written after a workload: when the target shows one, everything before it is applied."""

    TABLE = "CREATE TABLE fence (id int PRIMARY KEY, at timestamptz)"
    _ids = itertools.count(1)

    def __init__(self, src: str) -> None:
        self.src = src

    def write(self) -> int:
        n = next(self._ids)
        execute(self.src, f"INSERT INTO fence VALUES ({n}, now())")
        return n

    def seen(self, dst: str, n: int) -> float:
        """The monotonic time the target first shows fence row n."""
        return wait_row(dst, f"SELECT 1 FROM fence WHERE id = {n}")

    def through(self, dst: str) -> float:
        """Write a fence and wait for it: the replication is streaming (seconds it took)."""
        started = time.monotonic()
        return self.seen(dst, self.write()) - started
