"""Opening SQLite files for a source or a target, and the one place that classifies sqlite3 errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connectors.base import Batch, Endpoint, KeyRange, Row
from connectors.errors import ConfigError, DataError, DmsError, ObjectError, TransientError

BUSY_SECONDS = 30.0  # a writer holds the file's one write lock; wait this long for it before giving up


def path_of(ep: Endpoint) -> Path:
    if not ep.database:
        raise ConfigError(f"endpoint {ep.id} names no SQLite file: give its path with --database PATH")
    return Path(ep.database).expanduser()


def writable(path: Path) -> bool:
    """Writable by us, and not marked read-only (root may write anything, but a 0444 file says no)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(stat.S_IMODE(mode) & 0o222)


def remove_database(path: Path) -> None:
    """Delete a database file with the journal files SQLite keeps beside it (the demo starts afresh)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def busy_ms(ep: Endpoint) -> int:
    """How long to wait for the write lock: the endpoint's busyTimeout (seconds) or BUSY_SECONDS."""
    try:
        return int(float(ep.extra.get("busyTimeout", BUSY_SECONDS)) * 1000)
    except ValueError:
        raise ConfigError(f"busyTimeout={ep.extra['busyTimeout']!r} of endpoint {ep.id} is not a number of "
                          "seconds: fix --extra") from None


def _connect(path: Path, mode: str, ep: Endpoint) -> sqlite3.Connection:
    timeout = busy_ms(ep) / 1000
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode={mode}", uri=True, timeout=timeout,
                               isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails here if it is no database
    except sqlite3.Error as exc:
        raise classify(exc, ep) from None
    return conn


def wal(conn: sqlite3.Connection, ep: Endpoint) -> None:
    """Put the file in WAL mode. Leaving a rollback journal needs the file to itself, and SQLite refuses
    at once (SQLITE_BUSY, no busy handler) while an application writes to it: try again until the
    endpoint's busy timeout is up."""
    deadline = time.monotonic() + busy_ms(ep) / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def open_source(ep: Endpoint) -> tuple[sqlite3.Connection, bool]:
    """The source file, which must exist; returns the connection and whether the file is writable."""
    path = path_of(ep)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(f"SQLite file {path} of source endpoint {ep.id} {what}: fix --database")
    return _connect(path, "rw", ep), writable(path) and writable(path.parent)


def open_target(ep: Endpoint) -> sqlite3.Connection:
    """The target file, created if missing; its directory (for the WAL and new files) must be writable."""
    path = path_of(ep)
    if path.is_dir():
        raise ConfigError(f"{path} of target endpoint {ep.id} is a directory: give a file path with --database")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"directory {folder} for the SQLite file of target endpoint {ep.id} does not exist: "
                          "create it or fix --database")
    if path.exists() and not writable(path):
        raise ConfigError(f"SQLite file {path} of target endpoint {ep.id} is read-only: make it writable "
                          f"(chmod u+w {path}) or choose another file")
    if not writable(folder):
        raise ConfigError(f"directory {folder} of target endpoint {ep.id} is read-only: SQLite needs to create "
                          "files beside the database; make it writable or choose another directory")
    conn = _connect(path, "rwc", ep)
    try:
        # WAL lets readers (validation, the user) read while we write; FULL makes every commit durable,
        # because the applied position commits with the data and the source may prune up to it.
        wal(conn, ep)
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        conn.close()
        raise classify(exc, ep) from None
    return conn


def read_batches(conn: sqlite3.Connection, ep: Endpoint, sql: str, batch_rows: int,
                 decode: Callable[[Sequence[Any]], Row], args: Sequence[Any] = ()) -> Iterator[Batch]:
    """A query's rows in batches, all from one read transaction (one consistent snapshot)."""
    try:
        conn.execute("BEGIN")
        try:
            cur = conn.execute(sql, args)
            while rows := cur.fetchmany(batch_rows):
                yield Batch(len(rows), [decode(r) for r in rows])
        finally:
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise classify(exc, ep) from None


_CONFIG = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_CORRUPT")
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_INTERRUPT",
              "SQLITE_PROTOCOL", "SQLITE_ABORT")


_FIXES = {
    "SQLITE_CONSTRAINT": "a constraint of the target table refuses the source's rows: make it match the source's "
                         "definition (or drop it), then reload the table",
    "SQLITE_ERROR": "the target table does not match the source's: create it as on the source, or use "
                    "TargetTablePrepMode DROP_AND_CREATE",
}


def classify(exc: BaseException, ep: Endpoint) -> DmsError:
    """A sqlite3 error -> the error tree, by SQLite's primary result code.

    Retried: only a lock held by another writer (BUSY, LOCKED), I/O and memory troubles, an interrupt.
    A constraint (CONSTRAINT), a value (MISMATCH, TOOBIG, RANGE, a Python int too big) fails its rows;
    a missing table or column (ERROR) fails the table at once; a read-only or missing file is configuration.
    """
    if isinstance(exc, DmsError):
        return exc
    message = " ".join(str(exc).split()) or type(exc).__name__
    name = getattr(exc, "sqlite_errorname", "") or ""
    primary = "_".join(name.split("_")[:2])
    where = ep.where()
    if primary in ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN"):
        return ConfigError(f"{where}: {message}; check that the file and its directory exist and are writable")
    if primary == "SQLITE_NOTADB":
        return ConfigError(f"file {ep.database} of endpoint {ep.id} is not a SQLite database: fix --database")
    if primary in _CONFIG:
        return ConfigError(f"{where}: {message}")
    if primary in _TRANSIENT:
        return TransientError(f"{where}: {message}")
    if isinstance(exc, sqlite3.OperationalError) and not name:
        return TransientError(f"{where}: {message}")
    fix = _FIXES.get(primary)
    text = f"{where}: {message} ({name}{'; ' + fix if fix else ''})" if name else f"{where}: {message}"
    if primary == "SQLITE_ERROR":  # no such table or column: no row of the table can go in
        return ObjectError(text)
    # constraint violations, type mismatches, a value out of range (OverflowError)
    return DataError(text)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def key_range_sql(key: Sequence[str], within: KeyRange | None) -> tuple[str, list[Any]]:
    """A condition (with its parameters) selecting a key range, compared as row values; ("", []) for all rows."""
    if within is None or within.whole:
        return "", []
    columns = "(" + ", ".join(quote_ident(k) for k in key) + ")"
    parts, params = [], []
    for op, bound in ((">", within.after), ("<=", within.upto)):
        if bound is not None:
            parts.append(f"{columns} {op} ({', '.join('?' * len(bound))})")
            params.extend(bound)
    return " AND ".join(parts), params
