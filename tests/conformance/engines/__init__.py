"""The engines of the conformance suite: each makes a database, creates tables of the common types,
writes to them as an application would, and opens the connector on it.

A new engine joins the suite with one module here (a subclass of Engine decorated with @register) and its
import at the end of this file: every test then runs it as a source and as a target (as its `roles` say),
paired as `pairs()` says.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from connectors.base import Endpoint, TableId
from connectors.registry import open_source, open_target

# The test processes of a run share its heavy servers (deploy/test.sh), where tables, streams and checkpoints are
# account-wide: names made from a per-process counter carry the process's xdist worker id too.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def names() -> Iterator[str]:
    """1, 2, 3, ... each with this process's worker id: unique among the run's processes."""
    return (f"{n}{WORKER}" for n in itertools.count(1))

# Common type of the tests -> the portable type (DMS's) the memory engine declares it as. An engine's
# `decls` give its own declaration of each.
PORTABLE: dict[str, str] = {
    "bool": "bool", "int2": "int2", "int4": "int4", "int8": "int8", "float4": "float4", "float8": "float8",
    "numeric": "numeric", "numeric_wide": "numeric", "string": "string", "text": "text", "bytes": "bytes",
    "date": "date", "time": "time", "timestamp": "timestamp", "timestamptz": "timestamptz", "json": "json",
    "uuid": "uuid",
}


class Engine:
    """One database of an engine, used as a source or as a target by the tests of one module."""

    name = ""
    schema = ""  # the schema its tables are discovered in
    roles: ClassVar[tuple[str, ...]] = ("source", "target")
    # Core engines run every test against each other; every other engine runs against the memory engine,
    # itself, and the pairs it names in `pairs` (so the suite grows with engines, not with their square).
    core = False
    pairs: ClassVar[tuple[tuple[str, str], ...]] = ()
    decls: ClassVar[dict[str, str]] = {}  # common type -> this engine's declaration
    # test case -> why this engine cannot hold it (a strict xfail, as a source and as a target)
    type_gaps: ClassVar[dict[str, str]] = {}
    source_type_gaps: ClassVar[dict[str, str]] = {}  # the same, only when this engine is the source
    # test name -> why this engine, as a target, cannot do what it checks (a strict xfail; e.g. an append
    # target checks no change against what it holds)
    cannot: ClassVar[dict[str, str]] = {}
    truncate_as_deletes = False  # its capture sees a TRUNCATE as a delete per row
    # its capture is objects on the source that drop_cdc removes (False: the server's own log, kept for every
    # reader, as MySQL's binlog: nothing to drop, and a stream after drop_cdc still reads)
    drops_capture = True
    doc_type = ""  # the type a documents table's body column gets on it as a target ("" when it keeps no schema)
    sql_target = False  # it applies a batch as SQL statements (the apply-model tests compare it with memory)
    keeps_unsent_values = True  # a value an update did not carry (unchanged TOAST) keeps what the row had
    # It is a source of schemaless tables (documents mode): test_documents.py writes documents to it with
    # create_documents / write_documents and replicates them to targets.
    doc_source = False

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        """A fresh database of this engine for a source or a target; servers come from session fixtures."""
        raise NotImplementedError

    def endpoint(self, kind: str) -> Endpoint:
        raise NotImplementedError

    def open_source(self):
        return open_source(self.endpoint("source"))

    def open_target(self):
        return open_target(self.endpoint("target"))

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        """A table of (column, common type) pairs with a primary key; returns its id."""
        raise NotImplementedError

    def write(self, table: TableId, ops: Sequence[tuple]) -> None:
        """One transaction of ("insert", row) / ("update", key, values) / ("delete", key) / ("truncate",);
        a key is the key's value, or a tuple of them for a key of several columns."""
        raise NotImplementedError

    def create_documents(self, name: str) -> TableId:
        """An empty schemaless table (a collection) of a documents source."""
        raise NotImplementedError

    def write_documents(self, table: TableId, ops: Sequence[tuple]) -> None:
        """("insert", doc) / ("replace", doc) / ("delete", _id) on a documents source, in order."""
        raise NotImplementedError

    def close(self) -> None:
        pass


ENGINES: dict[str, type[Engine]] = {}


def register(cls: type[Engine]) -> type[Engine]:
    ENGINES[cls.name] = cls
    return cls


def key_tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


from . import dynamodb, kafka, kinesis, mariadb, memory, mongodb, postgres, redis, s3, sqlite  # noqa: E402,F401  (each registers its engine)

SOURCES = [n for n, e in ENGINES.items() if "source" in e.roles]
TARGETS = [n for n, e in ENGINES.items() if "target" in e.roles]
DOC_SOURCES = [n for n, e in ENGINES.items() if e.doc_source]


def pairs() -> list[tuple[str, str]]:
    """The (source, target) pairs every pair-wise test runs."""
    named = {p for e in ENGINES.values() for p in e.pairs}
    return [(s, t) for s in SOURCES for t in TARGETS
            if (ENGINES[s].core and ENGINES[t].core) or "memory" in (s, t) or s == t or (s, t) in named]
