"""The core vocabulary: tables, positions, changes, batches, and the Source/Target interfaces.

Row values are plain Python: None, bool, int, float, Decimal, bytes, str. Temporal values, JSON,
UUIDs, arrays and other types travel as their canonical text (ISO-8601, JSON text, ...), so that a
row means the same thing whichever engine produced it. Connectors are the only code that knows an
engine's own wire formats; a Batch may also carry the source's bulk bytes, loaded as-is by a target
of the same engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from .patterns import PatternIndex, wildcard_regex
from .positions import Position, Positions

Row = Mapping[str, Any]
_T = TypeVar("_T")
PrepMode = Literal["drop", "truncate", "keep"]


@dataclass(frozen=True, slots=True, order=True)
class TableId:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @classmethod
    def parse(cls, text: str) -> TableId:
        schema, _, name = text.partition(".")
        return cls(schema, name)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # portable type name: bool int2 int4 int8 float4 float8 numeric string text bytes
    #            date time timestamp timestamptz json uuid array other
    nullable: bool = True
    native: str = ""  # the source engine's own type declaration, e.g. "numeric(12,2)"
    dms: str = ""  # its AWS DMS data type, e.g. "NUMERIC(12,2)" (connectors/types.py); "": by ``type``


@dataclass(frozen=True, slots=True)
class TableSchema:
    table: TableId
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary key / replica identity; () = keyless
    engine: str = ""  # engine whose `native` types these are
    rows_estimate: int = 0  # the source's estimate of its row count when planned (0: unknown)
    unique: tuple[tuple[str, ...], ...] = ()  # column sets of unique indexes/constraints other than the key
    # Keyless, but the source logs whole old rows (how is the engine's: Source.whole_rows_cure): its changes
    # are applied as a database's own subscribers do, each update or delete on one row equal to the old row.
    full_row: bool = False
    # Schemaless (documents mode, see document_table): rows are DOC_ID + DOC_BODY, whatever the documents hold.
    documents: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


class Op(str, Enum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    TRUNCATE = "truncate"
    DDL = "ddl"  # the table's schema changed on the source: `schema` says how (connectors/ddl.py)


@dataclass(slots=True)  # not frozen: one is made per change, and a frozen one costs five times as much
class Change:
    table: TableId
    op: Op
    position: Position
    before: Row | None = None  # UPDATE/DELETE: old row, at least the key columns
    after: Row | None = None  # INSERT/UPDATE: new row; an absent column is unchanged (TOAST)
    commit_time: float | None = None  # epoch seconds
    txid: str | None = None
    # Values are the source engine's text spellings (its output functions), not Python values: a
    # target of the same engine (Target.text_engine) takes them as they are, saving a decode and an
    # encode per value; for anything else Source.decode turns them into Python values first.
    text: bool = False
    schema: Any = None  # Op.DDL: what changed (connectors/ddl.py SchemaChange); `after` = {"columns": [names]}


class OnConflict(str, Enum):
    """What a target does with a change that finds the target other than the change expects: an insert
    whose row is there, an update or a delete whose row is not (DMS's ApplyError*Policy)."""

    RESOLVE = "resolve"  # make the row what the change says: upsert, insert the missing row, delete nothing
    SKIP = "skip"  # leave the row as it is and report the change back (IGNORE_RECORD, LOG_ERROR)
    FAIL = "fail"  # apply nothing of the batch: ApplyConflict (SUSPEND_TABLE, STOP_TASK)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A change that found the target other than it expected, and what it found."""

    table: TableSchema
    change: Change
    error: str


@dataclass(frozen=True, slots=True)
class KeyRange:
    """The rows whose key is above ``after`` and at most ``upto`` (None: unbounded on that side).

    Bounds are tuples in key-column order, compared as rows. A chunk of a table's full load is one
    key range; DMS's parallel-load ``ranges`` boundaries (each an inclusive upper bound) map onto
    consecutive ranges directly. ``KeyRange()`` is the whole table.
    """

    after: tuple | None = None
    upto: tuple | None = None

    @property
    def whole(self) -> bool:
        return self.after is None and self.upto is None

    def to_json(self) -> list:
        return [None if self.after is None else list(self.after), None if self.upto is None else list(self.upto)]

    @classmethod
    def from_json(cls, doc: list) -> KeyRange:
        after, upto = doc
        return cls(None if after is None else tuple(after), None if upto is None else tuple(upto))

    @classmethod
    def between(cls, boundaries: Sequence[tuple]) -> list[KeyRange]:
        """Consecutive ranges split at the given inclusive upper bounds (sorted): len(boundaries) + 1 ranges."""
        edges: list[tuple | None] = [None, *boundaries, None]
        return [cls(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


class Capability(str, Enum):
    CDC = "cdc"
    BEFORE_IMAGE = "before_image"
    READ_BACK = "read_back"  # the target can be read for validation
    CUTOVER = "cutover"  # the target takes sequences and schema objects at `task cutover` (CutoverTarget)


class TargetKind(str, Enum):
    """What a target promises about its writes and its checkpoint (docs/connectors.md, "Target kinds").
    Declared by each Target class; the task settings it cannot honour are refused or warned about when
    a task is created (connectors/model/target_rules.py)."""

    TRANSACTIONAL = "transactional"  # SQL databases: a batch's data and its checkpoint in one transaction
    KEYED = "keyed"  # Redis, DynamoDB, MongoDB: idempotent upserts/deletes by key, checkpoint once acknowledged
    APPEND = "append"  # Kafka, Kinesis, S3: ordered appends; checkpoint atomic where the store allows, else
    #                    at-least-once with the source position in every record


class Batch:
    """Rows of one table moving together: a count, the rows, and optionally the source's bytes.

    ``raw`` is ``(format, bytes)`` in the source engine's bulk format (e.g. PostgreSQL's bulk text);
    a target that speaks that format loads the bytes as they are, any other calls ``rows()``.
    A batch asked for in a target's own ``bulk_format`` may be bytes only, cut anywhere: its count
    is 0 and the target counts the rows it loaded.
    """

    __slots__ = ("count", "raw", "_rows", "_decode")

    def __init__(
        self,
        count: int,
        rows: list[Row] | None = None,
        raw: tuple[str, bytes] | None = None,
        decode: Callable[[bytes], list[Row]] | None = None,
    ) -> None:
        self.count = count
        self.raw = raw
        self._rows = rows
        self._decode = decode

    def rows(self) -> list[Row]:
        if self._rows is None:
            assert self.raw is not None and self._decode is not None
            self._rows = self._decode(self.raw[1])
        return self._rows


@dataclass(frozen=True, slots=True)
class TableRule:
    """One selection rule: DMS wildcard patterns (literal names for "explicit")."""

    schema: str
    table: str
    action: Literal["include", "exclude", "explicit"] = "include"
    rule_id: int = 0

    def matches(self, table: TableId) -> bool:
        if self.action == "explicit":
            return (table.schema, table.name) == (self.schema, self.table)
        return bool(wildcard_regex(self.schema).fullmatch(table.schema)
                    and wildcard_regex(self.table).fullmatch(table.name))


class RuleIndex(Generic[_T]):
    """Items under selection rules, found by table without trying every rule (connectors/patterns.py)."""

    def __init__(self, pairs: Iterable[tuple[TableRule, _T]] = ()) -> None:
        self._index: PatternIndex[_T] = PatternIndex()
        for rule, item in pairs:
            self._index.add(rule.schema, rule.table, item, exact=rule.action == "explicit")

    def find(self, table: TableId) -> list[_T]:
        """The items of the rules matching the table, in the order they were given."""
        return self._index.find(table.schema, table.name)


class Selection:
    """Selection rules, indexed: ``selects`` costs the same for 10 rules or 100,000."""

    def __init__(self, rules: Sequence[TableRule]) -> None:
        self.rules = tuple(rules)
        self._index = RuleIndex((r, r) for r in self.rules)

    def selects(self, table: TableId) -> bool:
        """Included by some rule and excluded by none."""
        found = self._index.find(table)
        return any(r.action != "exclude" for r in found) and not any(r.action == "exclude" for r in found)


def selects(rules: Sequence[TableRule] | Selection, table: TableId) -> bool:
    """Included by some rule and excluded by none (build a Selection once to ask about many tables)."""
    return (rules if isinstance(rules, Selection) else Selection(rules)).selects(table)


@dataclass(frozen=True, slots=True)
class Condition:
    """One DMS source filter condition; values are text, compared as the column's type.

    ``op``: eq, noteq, lte, gte, between, notbetween (``value``..``end``, inclusive), null, notnull.
    """

    op: str
    value: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """Rows whose ``column`` meets any of the conditions. A table's filters all apply (AND)."""

    column: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Resolved connection settings handed to a connector (the password is already resolved)."""

    id: str
    kind: Literal["source", "target"]
    engine: str
    host: str = ""
    port: int = 0
    database: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    ssl_mode: str = "none"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """host:port/database, or just the database for an engine without a port (a file)."""
        return f"{self.host}:{self.port}/{self.database}" if self.port else self.database

    def where(self) -> str:
        return f"{self.engine} endpoint {self.id} ({self.address})"


@dataclass(frozen=True, slots=True)
class Retained:
    """The source log kept for one task's change capture, in the engine's words for the user."""

    bytes: int
    holder: str  # what keeps it, in the engine's words (PostgreSQL: its replication object and name)
    log: str  # what is kept, in the engine's words (PostgreSQL: its write-ahead log's short name)
    warn_bytes: int  # above this, say so (the endpoint's setting or its default)
    warn_setting: str  # where that threshold is set, e.g. "the source endpoint's ...WarnMB"
    # The key of ``bytes`` in `task describe --json` and `task list --json`: the engine's, so that scripts
    # written for one engine keep reading it (PostgreSQL keeps the name it always had).
    key: str = "RetainedLogBytes"


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


# Documents mode (DMS's document mode for MongoDB): a schemaless table is read as one row per document,
# its identity as text in DOC_ID (the key) and the whole document as JSON text in DOC_BODY.
DOC_ID = "_id"
DOC_BODY = "_doc"


def document_table(table: TableId, *, engine: str = "", rows_estimate: int = 0) -> TableSchema:
    """The schema of a schemaless table in documents mode. A target creates it as any table of a foreign
    engine, from the portable types: ``_id`` a string key, ``_doc`` its JSON type (PostgreSQL ``jsonb``,
    SQLite ``TEXT``)."""
    return TableSchema(table, (Column(DOC_ID, "string", nullable=False), Column(DOC_BODY, "json")), (DOC_ID,),
                       engine, rows_estimate, documents=True)


def document_row(doc_id: Any, doc: Mapping[str, Any]) -> dict[str, str]:
    """One document as a documents-mode row: its identity as text, the document as JSON text (values JSON
    cannot spell, as dates, as their text)."""
    return {DOC_ID: str(doc_id), DOC_BODY: json.dumps(doc, ensure_ascii=False, default=str)}


class Source:
    """What every source engine implements. The methods without a body here must be written by each
    engine; the others have the default a source without that feature needs, and the generic code
    calls every one of them as declared (never probing a connector for a method)."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint

    # -- what an engine must write ---------------------------------------------------------------

    def check(self, cdc: bool) -> list[str]:
        """Preflight problems, each one clear line with the fix; [] means ready."""
        raise NotImplementedError

    def tables(self, rules: Sequence[TableRule]) -> list[TableSchema]:
        """The tables the rules select, with columns and keys, in a stable order. A schemaless table
        (no fixed columns) is listed in documents mode: ``document_table``, its rows ``document_row``."""
        raise NotImplementedError

    def snapshot(self, table: TableSchema, *, batch_rows: int = 50_000, ordered: bool = False,
                 where: Sequence[Filter] = (), within: KeyRange | None = None,
                 raw: str | None = None, at: Callable[[int, str], None] | None = None) -> Iterator[Batch]:
        """The table's rows in batches, in key order when ``ordered``: only ``table``'s columns, in its
        order (a projection of the discovered table), only rows that pass ``where`` and, if given, lie
        ``within`` a key range. ``raw`` names a bulk format the consumer loads as-is (a target's
        ``bulk_format``): a source that speaks it may then send bytes only, cut anywhere and with counts of 0.
        ``at``: take a snapshot that holds exactly the table's changes committed before one log position,
        and call ``at`` with it (major, token) before returning: a keyless table's changes are not
        idempotent, so its cached changes must start exactly there."""
        raise NotImplementedError

    def split(self, table: TableSchema, rows_per_chunk: int) -> list[KeyRange]:
        """Key ranges of about ``rows_per_chunk`` rows each, covering the table; ``[KeyRange()]`` when
        the table is small or its key cannot be split."""
        return [KeyRange()]

    def segments(self, table: TableSchema, count: int) -> list[KeyRange]:
        """parallel-load ``partitions-auto`` (``number-of-partitions`` = ``count``, 0: the engine's default) where
        it means key ranges (MongoDB's autosegmentation): ``count`` ranges of about equal rows; else whole."""
        return [KeyRange()]

    def close(self) -> None:
        """Release the connection (idempotent)."""

    # -- discovery (`dms endpoint discover`, `dms task assess`) -----------------------------------

    def server(self) -> dict[str, str]:
        """What the server says of itself, e.g. {"EngineVersion": "15.4"}; {} when the engine cannot say."""
        return {}

    def table_bytes(self, tables: Sequence[TableId]) -> dict[TableId, int]:
        """Each table's size in storage (data and indexes) where the engine can say; absent: unknown."""
        return {}

    def sequences(self, tables: Sequence[TableSchema]) -> list[SequenceValue]:
        """The sequences that fill columns of these tables, with their last values (`task cutover`)."""
        return []

    def schema_objects(self, tables: Sequence[TableSchema]) -> list[SchemaObject]:
        """Foreign keys, non-unique indexes, defaults and views of these tables, as DDL a target of the same
        engine runs (`task cutover --schema-objects`); [] when the engine cannot say."""
        return []

    def largest_values(self, table: TableSchema, columns: Sequence[str]) -> dict[str, int]:
        """The largest value of each column, in bytes of its text or binary form (a scan of the table); a
        column absent: unknown. For `task assess`, against the task's LOB limits."""
        return {}

    # -- change capture (Capability.CDC) ---------------------------------------------------------

    def start_cdc(self, task: str, tables: Sequence[TableSchema]) -> Position:
        """Prepare change capture for the task and return the position to stream from.

        Called BEFORE any snapshot read, so every snapshot is at or after it. A source of several logs
        returns the position of its first; ``resume_positions`` then holds one per log."""
        raise NotImplementedError(f"{type(self).__name__} captures no changes")

    def stream(self, task: str, start: Position | Positions,
               tables: Sequence[TableSchema]) -> Iterator[Change | Position]:
        """Changes after ``start`` in commit order. A bare Position marks a boundary: the end of a
        source transaction, or a heartbeat while the log is idle (minor 0). Callers apply whole
        transactions by cutting their batches only there. A source of several logs takes a Positions
        (one per log) and interleaves its logs, each in its own order (each change's ``position.log``)."""
        raise NotImplementedError(f"{type(self).__name__} captures no changes")

    def decode(self, table: TableSchema, change: Change) -> Change:
        """A change with ``text`` values as the same change with Python values (only sources that
        stream text need it)."""
        return change

    def ack(self, upto: Position) -> None:
        """Everything at or before ``upto`` (in its log) is durably applied; the source may discard it."""

    def drop_cdc(self, task: str) -> None:
        """Remove what start_cdc created (the engine's capture objects: see ``capture_objects``)."""

    @classmethod
    def capture_objects(cls, ep: Endpoint, task: str) -> list[tuple[str, str]]:
        """What ``drop_cdc`` removes, as (name, the statement that drops it by hand); no connection needed."""
        return []

    @classmethod
    def whole_rows_cure(cls, table: TableId) -> str:
        """How the user makes this engine log the whole old row of ``table`` on update and delete (the
        cure when a change lacks columns the target needs), as a phrase of one line."""
        return f"make the source log whole old rows of {table}"

    # -- start and resume positions --------------------------------------------------------------

    @staticmethod
    def position_error(text: str) -> str | None:
        """Why ``text`` is not a start position in this engine's spelling (one line with an example), or
        None; needs no connection, so a definition is checked even while the source is away."""
        return f"CDC start position {text!r}: this source takes no start position"

    def parse_position(self, task: str, text: str) -> Position:
        """A user-given start position (engine spelling, see ``position_error``) -> Position."""
        raise NotImplementedError(f"{type(self).__name__} takes no start position")

    def check_position(self, task: str, position: Position) -> str | None:
        """Why capture cannot start at ``position`` (beyond the log's end, or before what the task's capture
        still holds), as one line with the fix, or None."""
        return None

    def capture_lost(self, task: str) -> str | None:
        """Why the task's capture can no longer serve the changes since its checkpoint (its capture objects
        are gone or were invalidated), or None."""
        return None

    def resume_position(self, task: str) -> Position | None:
        """Where the task's capture of a single log resumes (nothing before it is kept for the task), or
        None when it is gone: a task whose live state was lost goes on from here."""
        return None

    def resume_positions(self, task: str) -> Positions | None:
        """Where the task's capture resumes in each of the source's logs, or None when it is gone."""
        single = self.resume_position(task)
        return None if single is None else Positions([single])

    def can_resume(self, task: str, checkpoint: Positions | None = None) -> str | None:
        """Why the task cannot resume from ``checkpoint`` (or, without one, from where its capture stands),
        as one line, or None. By default: its capture is lost, or a log's position is no longer held."""
        lost = self.capture_lost(task)
        if lost or checkpoint is None:
            return lost
        for log in checkpoint:
            problem = self.check_position(task, checkpoint[log])
            if problem:
                return problem
        return None

    # -- what capture keeps on the source --------------------------------------------------------

    def retained_log(self, task: str) -> Retained | None:
        """The source log kept for the task's capture now, or None when nothing (known) is kept."""
        return None

    def advice(self, cdc: bool) -> list[str]:
        """Settings of the source that work but put a task at risk (its log kept too briefly for a stopped task to
        resume, ...), one line each with the fix: printed by `endpoint test`, and an event of a task that starts."""
        return []

    def leftovers(self, tasks: Iterable[str]) -> list[str]:
        """Capture objects of OpenDMS on the source that belong to none of ``tasks``: one line each, saying
        what it holds and how to drop it."""
        return []


# What Target.apply takes: one batch (table -> its changes in order), or parts of one batch in order,
# each such a mapping, read one after the other into the same transaction (a source transaction
# larger than memory, read back from where it was spilled).
Changes = Mapping[TableSchema, Sequence[Change]] | Iterable[Mapping[TableSchema, Sequence[Change]]]


def parts_of(changes: Changes) -> Iterable[Mapping[TableSchema, Sequence[Change]]]:
    return (changes,) if isinstance(changes, Mapping) else changes


@dataclass(frozen=True)
class SequenceValue:
    """A sequence that fills a column (serial, identity) and the last value it gave, for `task cutover`."""

    table: TableId
    column: str
    name: str  # the sequence's own name on the source, without schema
    last_value: int | None  # None: it never gave one


@dataclass(frozen=True)
class SchemaObject:
    """Something DMS does not migrate (a foreign key, an index, a default, a view), as its engine's DDL."""

    kind: str
    table: TableId  # the table it belongs to (a view: itself)
    name: str
    definition: str


class CutoverTarget(Protocol):
    """A target with Capability.CUTOVER."""

    def set_sequences(self, values: Sequence[SequenceValue], *, attach: bool) -> list[str]:
        """Each column's sequence (created when missing) set past both the source's last value and the
        target column's largest; ``attach``: the column's default draws from it. One line per action."""
        ...

    def create_objects(self, objects: Sequence[SchemaObject]) -> list[str]:
        """A same-engine source's schema objects, each made or said why not; one line per object."""
        ...


class Target(Protocol):
    capabilities: ClassVar[frozenset[Capability]]
    kind: ClassVar[TargetKind]
    #: the source engine whose ``Change.text`` values this target applies as they are (None: none)
    text_engine: ClassVar[str | None]

    def check(self) -> list[str]: ...

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        """Create (drop first for "drop"), empty ("truncate") or leave ("keep") the table. A table it
        creates has its primary key unless ``with_key`` is False (then ``create_keys`` adds it after the load)."""

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        """Once, when a task's load starts afresh, before any table is prepared: TRUNCATE_BEFORE_LOAD empties
        the tables (existing ones) together, and what would refuse or rewrite replicated rows (foreign keys,
        triggers) is set aside where the session cannot ignore it. A ConfigError, before anything changed,
        when the target cannot take the load as asked. Returns what was done, one line each."""

    def after_load(self, task: str, *, replicating: bool) -> list[str]:
        """Once every table is loaded: put back what before_load set aside (idempotent; as much of it as
        may be while changes still apply, when ``replicating``). Returns what was done, one line each."""

    def create_keys(self, table: TableSchema) -> list[str]:
        """After the table's load: add the primary key and the unique indexes it lacks (idempotent).
        Returns one line per index that could not be created and why (the table's data is still right)."""

    def bulk_format(self, table: TableSchema) -> str | None:
        """A source bulk format that this (prepared) table loads without decoding rows, or None."""

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        """Bulk-load every batch (the engine's fastest load path), commit, and return the row count.

        With ``within``, the batches are the source's rows of that key range: rows already in the
        range on the target are replaced in the same transaction, so a chunk loads idempotently."""

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        """Apply changes in one transaction, recording each table's last position; the result equals
        applying them one by one.

        Without ``on_conflict`` every change is resolved (idempotent apply). With it, an op mapped to
        SKIP or FAIL is checked against the target: the skipped changes are returned, and a FAIL
        conflict rolls the whole batch back and raises ApplyConflict."""

    def plan(self, changes: Mapping[TableSchema, Sequence[Change]],
             on_conflict: Mapping[Op, OnConflict] | None = None) -> Mapping[TableSchema, Sequence[Change]]:
        """The part of apply that needs no connection (collapsing runs, writing rows out), done now on
        the caller's thread: the result is what apply then takes, with the same ``on_conflict``. So
        a worker plans the next batch while the target still applies the last one."""

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        """Keep a change that could not be applied, and why, where the user looks (DMS's
        awsdms_apply_exceptions control table for SQL targets)."""

    def applied(self, task: str) -> dict[TableId, Position]:
        """The positions recorded by apply (the target's own checkpoint)."""

    def forget(self, task: str) -> list[str]:
        """Remove the task's checkpoints (reload, delete) and put back anything its load set aside
        (what was done, one line each)."""

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[Row]]:
        """The table's rows in key order (for validation)."""

    def close(self) -> None: ...

