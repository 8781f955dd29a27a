"""S3 target (append kind): a table's full load and changes as files in AWS DMS's layout.

Layout: ``[BucketFolder/]schema/table/LOAD00000001.csv`` ... (8 hex digits, cut at MaxFileSize) for the
full load, and one CDC file per applied batch and table named by its first change's commit time
(``20141029-1134010000.csv``, under commit-date folders with DatePartitionEnabled), rows led by ``I``/``U``/``D``.

Crash safety, without a transaction: every file becomes visible whole (connectors/s3/store.py), and the
task's checkpoint (``[BucketFolder/]_opendms/checkpoints/TASK.json``: per table its last position and last
CDC file) is written after the batch's files. A CDC file's name follows from the checkpoint and the batch's
first change alone, so a batch replayed after a crash rewrites the very files it wrote before: nothing is
doubled, nothing lost. Each LOAD file is claimed first (``_opendms/load/schema/table/LOADnnnnnnnn.json``,
created only if absent, holding the file's lowest and highest key), so chunks loading side by side never
take the same number, and a chunk loaded again removes the files of its key range first.
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import structlog

from connectors.base import (
    Batch,
    Change,
    Changes,
    Conflict,
    Endpoint,
    KeyRange,
    OnConflict,
    Op,
    Position,
    PrepMode,
    TableId,
    TableSchema,
    parts_of,
)
from connectors.errors import DmsError
from connectors.store_target import AppendTarget

from .formats import GATHER, NOSUP, SOURCE_TEXT, CsvWriter, ParquetWriter, Record, read_csv, read_parquet, source_text
from .settings import S3Config
from .store import Store, open_store

log = structlog.get_logger("opendms.s3")
CONTROL = "_opendms"  # Athena, Glue and Spark skip folders whose names start with "_"
_LOAD = re.compile(r"LOAD([0-9A-F]{8})\.")
_CDC = re.compile(r"(\d{8}-\d{10})\.")


class S3Target(AppendTarget):
    # A table's LOAD files are one sequence cut at MaxFileSize, as DMS writes them, not one per key range; and
    # ranges loading side by side only contend for the CPU here (5,000,000 rows, 2 cores: 0.69x of the
    # baseline split, 0.91x whole). A parallel-load table setting still splits it.
    split_loads: ClassVar[bool] = False

    def __init__(self, endpoint: Endpoint) -> None:
        self.ep = endpoint
        self.config = S3Config.of(endpoint)
        self.store: Store = open_store(self.config)
        self._swept: set[TableId] = set()  # tables whose files left by an unfinished batch were removed
        self._tasks: set[str] = set()  # tasks applied through this target: their parts are flushed at close
        self._schemas: dict[TableId, TableSchema] = {}

    def check(self) -> list[str]:
        return self.store.check()

    # -- where things go -------------------------------------------------------------------------

    def _folder(self, table: TableId) -> str:
        return f"{self.config.folder}{table.schema}/{table.name}/"

    def _claims(self, table: TableId) -> str:
        return f"{self.config.folder}{CONTROL}/load/{table.schema}/{table.name}/"

    def _checkpoint_key(self, task: str) -> str:
        return f"{self.config.folder}{CONTROL}/checkpoints/{task}.json"

    # -- full load -------------------------------------------------------------------------------

    def prepare(self, table: TableSchema, mode: PrepMode, *, with_key: bool = True) -> None:
        """DROP_AND_CREATE and TRUNCATE_BEFORE_LOAD remove the table's files (its load and its changes), as
        a dropped table's rows go; DO_NOTHING keeps them, and the new LOAD files number on after them."""
        if mode != "keep":
            self._remove(table.table)

    def _remove(self, table: TableId) -> bool:
        """Remove the table's files; whether it had any."""
        found = self.store.list(self._folder(table)) + self.store.list(self._claims(table))
        self.store.delete(found)
        return bool(found)

    def before_load(self, task: str, tables: Sequence[TableSchema], mode: PrepMode) -> list[str]:
        if mode != "truncate":
            return []
        emptied = 0
        for table in tables:
            emptied += self._remove(table.table)
        return [f"TRUNCATE_BEFORE_LOAD emptied the {emptied} selected table(s): their files were removed"]

    def load(self, table: TableSchema, batches: Iterable[Batch], *, within: KeyRange | None = None) -> int:
        if within is not None and not within.whole:
            self._remove_range(table, within)
        stamp = _stamp(time.time()) if self.config["TimestampColumnName"] else None
        op = "I" if self.config.op_in_load() else None
        limit = self.config["MaxFileSize"] * 1024
        names = table.column_names
        values = operator.itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        key_at = [names.index(k) for k in table.key]
        count = 0
        current: _LoadFile | None = None
        gathered: list[Batch] = []  # the source's bulk text, parsed by Arrow once it holds GATHER bytes
        # CSV keeps a float's text as the source sent it (spelt per value later): a key's bounds need numbers
        columnar = self.config.parquet or not any(table.columns[i].type in ("float4", "float8") for i in key_at)
        try:
            for batch in batches:
                text = columnar and batch.raw is not None and batch.raw[0] == SOURCE_TEXT
                if text:
                    gathered.append(batch)
                    # no more than the file has room for: a file is cut at MaxFileSize give or take one batch
                    room = limit - (current.size() if current is not None else 0)
                    if sum(len(b.raw[1]) for b in gathered) < min(GATHER, room):
                        continue
                elif batch.raw is None and not batch.rows():
                    continue
                if current is None:
                    current = _LoadFile(self, table, self.config.op_in_load())
                if gathered:
                    count += self._write_text(current, table, gathered, names, values, op, stamp, key_at)
                    gathered = []
                if not text:
                    count += self._write_rows(current, batch, names, values, op, stamp, key_at)
                if current.size() >= limit:
                    current.commit()
                    current = None
            if gathered:
                current = current or _LoadFile(self, table, self.config.op_in_load())
                count += self._write_text(current, table, gathered, names, values, op, stamp, key_at)
            if current is not None:
                current.commit()
                current = None
        finally:
            if current is not None:
                current.abort()
        log.info("s3_loaded", table=str(table.table), rows=count)
        return count

    def _write_text(self, current: _LoadFile, table: TableSchema, batches: list[Batch], names: Sequence[str],
                    values: Any, op: str | None, stamp: str | None, key_at: list[int]) -> int:
        """Batches of the source's bulk text, read by Arrow in one go (no Python rows); when Arrow cannot
        take them whole (an escaped value, a value it refuses), batch by batch, and as rows where it still
        cannot."""
        whole = source_text(b"".join(b.raw[1] for b in batches), table.columns, self.config, table.key)
        if whole is not None:
            current.write_arrow(whole, op, stamp, key_at)
            return whole.num_rows
        count = 0
        for batch in batches:
            part = source_text(batch.raw[1], table.columns, self.config, table.key) if len(batches) > 1 else None
            if part is not None:
                current.write_arrow(part, op, stamp, key_at)
                count += part.num_rows
            else:
                count += self._write_rows(current, batch, names, values, op, stamp, key_at)
        return count

    @staticmethod
    def _write_rows(current: _LoadFile, batch: Batch, names: Sequence[str], values: Any, op: str | None,
                    stamp: str | None, key_at: list[int]) -> int:
        rows = batch.rows()
        try:
            tuples = list(map(values, rows))
        except KeyError:  # a row without some column: NULL there
            tuples = [tuple(r.get(c) for c in names) for r in rows]
        current.write([op] * len(tuples), [stamp] * len(tuples), tuples, key_at)
        return len(tuples)

    def _remove_range(self, table: TableSchema, within: KeyRange) -> None:
        """A chunk loaded again: the LOAD files whose keys all lie in its range are its own earlier ones."""
        gone = []
        for key in self.store.list(self._claims(table.table)):
            claim = json.loads(self.store.get(key) or b"{}")
            low, high = claim.get("low"), claim.get("high")
            if low is None or (_inside(_key_in(low), within) and _inside(_key_in(high), within)):
                gone += [key, self._folder(table.table) + claim.get("file", "")]
        self.store.delete([k for k in gone if not k.endswith("/")])

    # -- change apply ----------------------------------------------------------------------------

    def apply(self, task: str, changes: Changes, on_conflict: Mapping[Op, OnConflict] | None = None) -> list[Conflict]:
        """Every change is written (an append target finds no conflicts); each table's changes of the batch
        as one file, the checkpoint after them all. Nothing is written before the whole batch is read."""
        gathered: dict[TableId, tuple[TableSchema, list[Change]]] = {}
        for part in parts_of(changes):
            for schema, items in part.items():
                if items:
                    gathered.setdefault(schema.table, (schema, []))[1].extend(items)
                    self._schemas[schema.table] = schema
        if not gathered:
            return []
        marks = self._read_checkpoint(task)
        self._tasks.add(task)
        promoted: list[str] = []
        try:
            for table_id, (schema, items) in gathered.items():
                mark = dict(marks.get(str(table_id), {}))
                if table_id not in self._swept:
                    self._sweep(task, table_id, mark)
                promoted += self._take(task, schema, items, mark)
                mark["position"] = items[-1].position.encode()
                marks[str(table_id)] = mark
            merged = self._merge(task, {s.table: s for s, _ in gathered.values()}, marks, force=False)
            self.store.put(self._checkpoint_key(task), json.dumps(marks, sort_keys=True).encode())
            self.store.delete(merged + promoted)  # the parts the checkpoint no longer lists
        except BaseException:
            self._swept.clear()  # what this batch wrote is replayed: its files go before the next one
            raise
        return []

    def _pending(self, task: str, table: TableId) -> str:
        return f"{self.config.folder}{CONTROL}/pending/{task}/{table.schema}/{table.name}/"

    def _sweep(self, task: str, table: TableId, mark: Mapping[str, Any]) -> None:
        """Remove what a batch wrote before it stopped short of its checkpoint: CDC files past the checkpoint's
        last one, and parts it does not list. Their changes come again (maybe cut otherwise)."""
        last = mark.get("file", "")
        floor = _tick_of(last) if last else -1
        orphans = [key for key in self.store.list(self._folder(table))
                   if (m := _CDC.match(key.rsplit("/", 1)[-1])) and _tick_of(m.group(1)) > floor]
        listed = set(mark.get("parts", ()))
        orphans += [key for key in self.store.list(self._pending(task, table))
                    if key.rsplit("/", 1)[-1].split(".")[0] not in listed]
        if orphans:
            log.warning("s3_unfinished_batch_removed", table=str(table), files=len(orphans))
            self.store.delete(orphans)
        self._swept.add(table)

    def _take(self, task: str, table: TableSchema, changes: Sequence[Change], mark: dict[str, Any]) -> list[str]:
        """The batch's changes of one table: straight into a CDC file when files are cut at every batch
        (CdcMaxBatchInterval 0), else into a part of the next file, kept under _opendms/pending/ until the
        file is due. A TRUNCATE removes the table's files and its parts first. Returns the parts a schema
        change made CDC files of, to delete once the checkpoint no longer lists them."""
        promoted: list[str] = []
        names = table.column_names
        records: list[Record] = []
        first_time: float | None = None
        for ch in changes:
            if ch.op is Op.TRUNCATE:
                self._remove(table.table)
                self.store.delete(self.store.list(self._pending(task, table.table)))
                mark.update(parts=[], bytes=0, since=0)
                records.clear()
                continue
            if ch.op is Op.DDL:  # it comes alone (worker/cdc/ddl.py): the files after it have the new shape
                promoted += self._promote(task, table.table, mark)
                continue
            if first_time is None and ch.commit_time:
                first_time = ch.commit_time
            records.extend(self._records(table, names, ch))
        if not records:
            return promoted
        parts = mark.setdefault("parts", [])
        name = _cdc_name(first_time, parts[-1] if parts else mark.get("file", ""))
        if not self.config["CdcMaxBatchInterval"] and not parts:
            self._write_file(table, self._visible(table.table, name), records)
            mark["file"] = name
            return promoted
        size = self._write_file(table, f"{self._pending(task, table.table)}{name}{self.config.suffix}", records)
        parts.append(name)
        mark["bytes"] = mark.get("bytes", 0) + size
        mark["since"] = mark.get("since") or time.time()
        return promoted

    def _promote(self, task: str, table: TableId, mark: dict[str, Any]) -> list[str]:
        """A schema change: the table's pending parts (written in the shape before it) become CDC files as they
        are, so no file mixes two shapes and the next change starts a new file. A crash before the checkpoint
        leaves them listed: the sweep removes the copies and the change is applied again."""
        parts = mark.get("parts") or []
        keys = [f"{self._pending(task, table)}{name}{self.config.suffix}" for name in parts]
        for name, key in zip(parts, keys, strict=True):
            data = self.store.get(key)
            if data is not None:
                self.store.put(self._visible(table, name), data)
        if parts:
            mark.update(file=parts[-1], parts=[], bytes=0, since=0)
        return keys

    def _visible(self, table: TableId, name: str) -> str:
        return f"{self._folder(table)}{self.config.date_folder(_time_of(name))}{name}{self.config.suffix}"

    def _write_file(self, table: TableSchema, key: str, records: Sequence[Record]) -> int:
        writer = self.store.writer(key)
        try:
            out = _format_writer(self.config, table, self.config.op_in_cdc(), writer.file)
            out.write(records)
            out.close()
            size = writer.file.tell()
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return size

    def _merge(self, task: str, tables: Mapping[TableId, TableSchema], marks: dict[str, dict[str, Any]],
               force: bool) -> list[str]:
        """Each table whose parts are due (CdcMaxBatchInterval since its first, CdcMinFileSize reached, or
        ``force``) gets them as one CDC file named after the first part; returns the parts' keys, to delete
        once the checkpoint no longer lists them."""
        config, now, gone = self.config, time.time(), []
        for table_id, schema in tables.items():
            mark = marks.get(str(table_id), {})
            parts = mark.get("parts") or []
            if not parts or not (force or now - mark.get("since", now) >= config["CdcMaxBatchInterval"]
                                 or mark.get("bytes", 0) >= config["CdcMinFileSize"] * 1024):
                continue
            keys = [f"{self._pending(task, table_id)}{name}{config.suffix}" for name in parts]
            records = [r for key in keys for r in self._read_file(schema, key, config.op_in_cdc(), None)]
            self._write_file(schema, self._visible(table_id, parts[0]), records)
            mark.update(file=parts[0], parts=[], bytes=0, since=0)
            gone += keys
        return gone

    def flush(self, task: str) -> None:
        """Every part of the task's tables into its CDC file now (a stopping task, as DMS writes its files)."""
        marks = self._read_checkpoint(task)
        tables = {TableId.parse(name): name for name, mark in marks.items() if mark.get("parts")}
        if not tables:
            return
        columns = {}
        for table_id in tables:
            schema = self._schemas.get(table_id)
            if schema is None:
                log.warning("s3_parts_left", table=str(table_id), reason="the table's columns are unknown here")
                continue
            columns[table_id] = schema
        gone = self._merge(task, columns, marks, force=True)
        self.store.put(self._checkpoint_key(task), json.dumps(marks, sort_keys=True).encode())
        self.store.delete(gone)

    def _records(self, table: TableSchema, names: Sequence[str], ch: Change) -> list[Record]:
        config = self.config
        stamp = _stamp(ch.commit_time or time.time()) if config["TimestampColumnName"] else None
        op_column = config.op_in_cdc()

        def rec(op: str, image: Mapping[str, Any]) -> Record:
            return (op if op_column else None, stamp, [image.get(n, NOSUP) for n in names])

        if ch.op is Op.INSERT:
            return [rec("I", ch.after or {})]
        if ch.op is Op.DELETE:
            return [] if config["CdcInsertsOnly"] or config["CdcInsertsAndUpdates"] else [rec("D", ch.before or {})]
        if config["CdcInsertsOnly"]:
            return []
        after = ch.after or {}
        old_key = [(ch.before or {}).get(k, after.get(k)) for k in table.key]
        if ch.before and old_key != [after.get(k) for k in table.key] and not config["CdcInsertsAndUpdates"]:
            # A key change: the old row goes, then the new one comes (readers rebuilding rows by key see both).
            return [rec("D", {**dict(zip(table.key, old_key, strict=True))}), rec("U", after)]
        return [rec("U", after)]

    def record_exception(self, task: str, table: TableSchema, change: Change, error: str) -> None:
        """Kept beside the checkpoints, as DMS's awsdms_apply_exceptions rows would be: one JSON object a line."""
        key = f"{self.config.folder}{CONTROL}/exceptions/{task}/{int(time.time() * 1e6)}.json"
        row = change.after if change.after is not None else change.before or {}
        doc = {"TASK_NAME": task, "TABLE_OWNER": table.table.schema, "TABLE_NAME": table.table.name,
               "ERROR_TIME": datetime.now(UTC).isoformat(sep=" "),
               "STATEMENT": f"{change.op.value} {json.dumps({k: _jsonable(v) for k, v in row.items()})}",
               "ERROR": error}
        self.store.put(key, json.dumps(doc).encode())

    def _read_checkpoint(self, task: str) -> dict[str, dict[str, str]]:
        data = self.store.get(self._checkpoint_key(task))
        return json.loads(data) if data else {}

    def applied(self, task: str) -> dict[TableId, Position]:
        return {TableId.parse(name): Position.decode(mark["position"])
                for name, mark in self._read_checkpoint(task).items()}

    def forget(self, task: str) -> list[str]:
        self.store.delete([self._checkpoint_key(task),
                           *self.store.list(f"{self.config.folder}{CONTROL}/pending/{task}/")])
        return []

    # -- read back: the files folded into rows ---------------------------------------------------

    def read(self, table: TableSchema, *, batch_rows: int = 50_000) -> Iterator[list[dict[str, Any]]]:
        """The table as its files say: LOAD files in order, then each CDC file's I/U/D in order, folded by
        key (a keyless table's rows in file order); rows in key order."""
        rows = fold(table, self.records(table))
        for i in range(0, len(rows), max(1, batch_rows)):
            yield rows[i:i + batch_rows]

    def records(self, table: TableSchema) -> Iterator[Record]:
        """Every record of the table's files: full load first, then changes in the order they were written."""
        loads, changes = [], []
        for key in self.store.list(self._folder(table.table)):
            base = key.rsplit("/", 1)[-1]
            if _LOAD.match(base):
                loads.append(key)
            elif _CDC.match(base):
                changes.append((base, key))
        for key in loads:
            yield from self._read_file(table, key, self.config.op_in_load(), "I")
        for _base, key in sorted(changes):
            yield from self._read_file(table, key, self.config.op_in_cdc(), "I")
        # then the parts not yet in a CDC file, of every task that lists them in its checkpoint
        for key in self.store.list(f"{self.config.folder}{CONTROL}/checkpoints/"):
            task = key.rsplit("/", 1)[-1].removesuffix(".json")
            mark = json.loads(self.store.get(key) or b"{}").get(str(table.table), {})
            for name in mark.get("parts", ()):
                part = f"{self._pending(task, table.table)}{name}{self.config.suffix}"
                yield from self._read_file(table, part, self.config.op_in_cdc(), "I")

    def _read_file(self, table: TableSchema, key: str, with_op: bool, default_op: str) -> Iterator[Record]:
        data = self.store.get(key)
        if data is None:
            return  # a part removed by a TRUNCATE before the checkpoint said so
        reader = (read_parquet(data, table.columns, with_op, self.config) if self.config.parquet
                  else read_csv(self.config, data, table.columns, with_op))
        for op, stamp, row in reader:
            yield op or default_op, stamp, row

    def close(self) -> None:
        """A stopping worker closes its target: the parts it holds become CDC files (best effort: a store
        that cannot be reached now keeps them, and they are written with the next batch)."""
        for task in sorted(self._tasks):
            try:
                self.flush(task)
            except DmsError as exc:
                log.warning("s3_flush_at_close_failed", task=task, error=str(exc))
        self._tasks.clear()


class _LoadFile:
    """One LOAD file being written: its number claimed first, its key bounds kept in the claim."""

    def __init__(self, target: S3Target, table: TableSchema, with_op: bool) -> None:
        self.target, self.table = target, table
        store = target.store
        claims = target._claims(table.table)
        taken = [int(m.group(1), 16) for k in store.list(claims) if (m := _LOAD.match(k.rsplit("/", 1)[-1]))]
        number = max(taken, default=0) + 1
        while not store.put(f"{claims}LOAD{number:08X}.json", b"{}", new=True):
            number += 1
        self.name = f"LOAD{number:08X}{target.config.suffix}"
        self.claim = f"{claims}LOAD{number:08X}.json"
        self.writer = store.writer(target._folder(table.table) + self.name)
        self.out = _format_writer(target.config, table, with_op, self.writer.file)
        self.low: tuple | None = None
        self.high: tuple | None = None

    def write(self, ops: list, stamps: list, rows: list[tuple], key_at: list[int]) -> None:
        self.out.write_rows(ops, stamps, rows, whole=True)
        if key_at:
            keys = [r[key_at[0]] for r in rows] if len(key_at) == 1 else [tuple(r[i] for i in key_at) for r in rows]
            try:
                low, high = min(keys), max(keys)
            except TypeError:
                return
            if len(key_at) == 1:
                low, high = (low,), (high,)
            self.low = low if self.low is None or low < self.low else self.low
            self.high = high if self.high is None or high > self.high else self.high

    def write_arrow(self, part: Any, op: str | None, stamp: str | None, key_at: list[int]) -> None:
        import pyarrow.compute as pc

        self.out.write_arrow(part, op, stamp)
        if key_at and part.num_rows:
            if len(key_at) == 1:
                bounds = pc.min_max(part.column(key_at[0]))
                low, high = (bounds["min"].as_py(),), (bounds["max"].as_py(),)
            else:
                keys = list(zip(*(part.column(i).to_pylist() for i in key_at), strict=True))
                low, high = min(keys), max(keys)
            self.low = low if self.low is None or low < self.low else self.low
            self.high = high if self.high is None or high > self.high else self.high

    def size(self) -> int:
        return self.writer.file.tell()

    def commit(self) -> None:
        self.out.close()
        # The bounds go into the claim before the file is visible: a reload always knows whose file it is.
        doc = {"file": self.name}
        if self.low is not None:
            doc.update(low=_key_out(self.low), high=_key_out(self.high))
        self.target.store.put(self.claim, json.dumps(doc).encode())
        self.writer.commit()

    def abort(self) -> None:
        self.writer.abort()


def _format_writer(config: S3Config, table: TableSchema, with_op: bool, out):
    return (ParquetWriter if config.parquet else CsvWriter)(config, table.columns, with_op, out)


def fold(table: TableSchema, records: Iterable[Record]) -> list[dict[str, Any]]:
    """Records applied in order onto rows: I and U put the row (a column the change did not carry keeps
    its value), D removes it. A U right after a D is a key change: the moved row keeps what it carried."""
    names = table.column_names
    if not table.key:
        return [dict(zip(names, row, strict=True)) for op, _s, row in records if op != "D"]
    at = [names.index(k) for k in table.key]
    rows: dict[tuple, dict[str, Any]] = {}
    moved: dict[str, Any] | None = None
    for op, _stamp, values in records:
        k = tuple(values[i] for i in at)
        if op == "D":
            moved = rows.pop(k, None)
            continue
        old = rows.get(k) or (moved if op == "U" else None) or {}
        rows[k] = {n: (old.get(n) if v is NOSUP else v) for n, v in zip(names, values, strict=True)}
        moved = None
    return [rows[k] for k in sorted(rows, key=_sortable)]


def _sortable(key: tuple) -> tuple:
    return tuple((v is None, v) for v in key)


def _stamp(when: float) -> str:
    """TimestampColumnName's value: yyyy-MM-dd HH:mm:ss.SSSSSS, UTC."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _cdc_name(first: float | None, last: str) -> str:
    """A CDC file's name, DMS's yyyyMMdd-HHmmssSSSS (UTC): the batch's first commit time, or one tick past
    the table's last file when that is not later (names keep the order changes were applied in)."""
    tick = int(first * 10_000) if first else 0
    if last:
        tick = max(tick, _tick_of(last) + 1)
    if not tick:
        tick = int(time.time() * 10_000)
    seconds, frac = divmod(tick, 10_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%d-%H%M%S") + f"{frac:04d}"


def _tick_of(name: str) -> int:
    return int(datetime.strptime(name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC).timestamp()) * 10_000 + int(
        name[15:19])


def _time_of(name: str) -> float:
    return _tick_of(name) / 10_000


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _key_out(key: tuple) -> list:
    return [{"b": v.hex()} if isinstance(v, bytes) else {"d": str(v)} if isinstance(v, Decimal) else v for v in key]


def _key_in(doc: list) -> tuple:
    return tuple(bytes.fromhex(v["b"]) if isinstance(v, dict) and "b" in v
                 else Decimal(v["d"]) if isinstance(v, dict) else v for v in doc)


def _inside(key: tuple, within: KeyRange) -> bool:
    try:
        above = within.after is None or key > tuple(within.after)
        return above and (within.upto is None or key <= tuple(within.upto))
    except TypeError:
        return False
