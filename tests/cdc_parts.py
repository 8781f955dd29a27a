"""What the tests of the CDC job's parts (worker/cdc/) share: a memory source and target with one table
each, the table's map, and the task's live state on a real Redis."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from connectors import memory, registry
from connectors.base import Column, Endpoint, TableId, TableRule, TableSchema
from connectors.model.mappings import parse_table_mappings
from connectors.model.settings import TaskSettings, parse_task_settings
from connectors.model.tablemap import TableMap, build_maps
from worker.state import StateStore

T = TableId("public", "t")
SCHEMA = TableSchema(T, (Column("id", "int8", False), Column("s", "text", False)), ("id",), "memory")
MAPPINGS = parse_table_mappings(json.dumps({"rules": [{
    "rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
    "object-locator": {"schema-name": "public", "table-name": "%"}}]}))
_names = itertools.count()


def settings(**groups: dict[str, Any]) -> TaskSettings:
    return parse_task_settings(json.dumps(groups) if groups else None)


def table_map(task_settings: TaskSettings | None = None) -> TableMap:
    return build_maps(MAPPINGS, task_settings or settings(), [SCHEMA])[T]


@dataclass
class Failures:
    """The job's part the error policies call (worker/job.py's Job): what they failed, in order."""

    tables: list[tuple[TableId, str]] = field(default_factory=list)
    task: list[str] = field(default_factory=list)

    def fail_table(self, table: TableId, message: str) -> None:
        self.tables.append((table, message))

    def fail_task(self, message: str) -> None:
        self.task.append(message)


class Memory:
    """A memory source database (table ``public.t``, capture started for the task) and a memory target."""

    def __init__(self) -> None:
        n = next(_names)
        self.task = f"task{n}"
        self.src_name, self.dst_name = f"cdcsrc{n}", f"cdcdst{n}"
        self.src_db = memory.database(self.src_name)
        self.src_db.create_table(SCHEMA)
        self.dst_db = memory.database(self.dst_name)
        self.source = registry.open_source(Endpoint("s", "source", "memory", database=self.src_name))
        self.target = registry.open_target(Endpoint("d", "target", "memory", database=self.dst_name))
        (schema,) = self.source.tables([TableRule("public", "t", "explicit")])
        self.target.prepare(schema, "drop")
        self.p0 = self.source.start_cdc(self.task, [schema])

    def changes(self, count: int) -> list:
        """The changes of the transactions committed so far (after p0), without their ends."""
        stream = self.source.stream(self.task, self.p0, [SCHEMA])
        out = []
        for item in stream:
            if hasattr(item, "op"):
                out.append(item)
            elif len(out) >= count:
                break
        stream.close()
        return out

    def rows(self) -> list[dict[str, Any]]:
        return self.dst_db.rows(T)

    def close(self) -> None:
        self.source.close()
        self.target.close()
        memory.drop_database(self.src_name)
        memory.drop_database(self.dst_name)


def live_state(url: str) -> Iterator[StateStore]:
    """The live state on the tests' Redis (shared: every test's task has a name of its own)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    yield StateStore(client)
    client.close()
