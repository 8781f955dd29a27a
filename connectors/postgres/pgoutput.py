"""Decoder for PostgreSQL's logical replication protocol (output plugin ``pgoutput``, version 1).

Reference: PostgreSQL 15 documentation, "Logical Replication Message Formats". One payload (the
``data`` of ``pg_logical_slot_*_binary_changes`` or the ``payload`` of a streamed XLogData) holds
exactly one message; :func:`decode` turns it into one of the frozen dataclasses below.

Tuple values come back as a tuple with one element per column: ``None`` for SQL NULL, the
:data:`UNCHANGED` sentinel for an unchanged TOASTed value the server did not send, else the
column's text representation (``str``). Binary-format values (option ``binary``) are not decoded.

Namespaces that pgoutput sends as the empty string (its spelling of ``pg_catalog``) are returned
as ``"pg_catalog"``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ROW_TAGS",
    "UNCHANGED",
    "Begin",
    "Commit",
    "Delete",
    "Insert",
    "Message",
    "Origin",
    "Relation",
    "RelationColumn",
    "Truncate",
    "TypeMsg",
    "Update",
    "decode",
    "lsn_to_str",
    "relid",
    "row_change",
    "str_to_lsn",
]

# PostgreSQL timestamps count microseconds from 2000-01-01 00:00:00 UTC.
_PG_EPOCH_US: Final = 946_684_800 * 1_000_000


class _Unchanged:
    """The type of :data:`UNCHANGED`; there is exactly one instance."""

    __slots__ = ()
    _instance: _Unchanged | None = None

    def __new__(cls) -> _Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"

    def __reduce__(self) -> str:  # pickles as the module global, so identity survives
        return "UNCHANGED"

    def __copy__(self) -> _Unchanged:
        return self

    def __deepcopy__(self, memo: object) -> _Unchanged:
        return self


UNCHANGED: Final = _Unchanged()
"""An unchanged TOASTed column value ('u'): the server did not send it; keep the old value."""


class _WithUnchanged(tuple):
    """TupleData holding at least one UNCHANGED value (a rare case, told apart by type alone)."""

    __slots__ = ()


def has_unchanged(values: tuple) -> bool:
    return type(values) is _WithUnchanged


# --------------------------------------------------------------------------- messages


@dataclass(slots=True)  # made per change: a frozen dataclass costs five times as much to build
class Begin:
    final_lsn: int
    commit_time: float  # epoch seconds
    xid: int


@dataclass(slots=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Origin:
    commit_lsn: int  # the commit LSN on the origin server
    name: str


@dataclass(frozen=True, slots=True)
class RelationColumn:
    name: str
    type_oid: int
    type_mod: int
    is_key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    relid: int
    schema: str
    name: str
    replica_identity: str  # 'd' default, 'n' nothing, 'f' full, 'i' index
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True, slots=True)
class TypeMsg:
    type_oid: int
    schema: str
    name: str


@dataclass(slots=True)
class Insert:
    relid: int
    new: tuple


@dataclass(slots=True)
class Update:
    relid: int
    old: tuple | None  # None unless the key changed ('K') or replica identity is FULL ('O')
    new: tuple
    old_is_key: bool  # True: ``old`` has only the key columns set (others None)


@dataclass(slots=True)
class Delete:
    relid: int
    old: tuple
    old_is_key: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    relids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class Message:
    """A logical decoding message (``pg_logical_emit_message``; needs option messages=true)."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage = Begin | Commit | Origin | Relation | TypeMsg | Insert | Update | Delete | Truncate | Message

# --------------------------------------------------------------------------- decoding

_BEGIN = struct.Struct(">QqI")  # final LSN, commit timestamp, xid
_COMMIT = struct.Struct(">BQQq")  # flags, commit LSN, end LSN, commit timestamp
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_REL_COL = struct.Struct(">Ii")  # type oid, type modifier
_TRUNC = struct.Struct(">IB")  # relation count, options
_MSG = struct.Struct(">BQ")  # flags, LSN

_u32 = _U32.unpack_from
_u16 = _U16.unpack_from


def _epoch(us: int) -> float:
    return (us + _PG_EPOCH_US) / 1_000_000


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode(), end + 1


def _tuple(data: bytes, pos: int) -> tuple[tuple, int]:
    """TupleData at ``pos`` -> (values, position after it)."""
    (ncols,) = _u16(data, pos)
    pos += 2
    values: list = []
    append = values.append
    u32 = _u32
    unchanged = False
    for _ in range(ncols):
        kind = data[pos]
        if kind == 0x74:  # 't': Int32 length, then the text bytes
            end = pos + 5 + u32(data, pos + 1)[0]
            append(data[pos + 5 : end].decode())
            pos = end
        elif kind == 0x6E:  # 'n': NULL
            append(None)
            pos += 1
        elif kind == 0x75:  # 'u': unchanged TOASTed value
            append(UNCHANGED)
            unchanged = True
            pos += 1
        elif kind == 0x62:  # 'b'
            raise NotImplementedError("pgoutput binary values ('b') are not supported; omit binary=true")
        else:
            raise ValueError(f"pgoutput: unknown tuple value kind {bytes([kind])!r} at offset {pos}")
    if len(data) < pos:  # a text value's length ran past the end
        raise ValueError("pgoutput: truncated tuple data")
    return (_WithUnchanged(values) if unchanged else tuple(values)), pos


def _tuple_dict(data: bytes, pos: int, names: tuple[str, ...]) -> tuple[dict, int]:
    """TupleData at ``pos`` straight into {column name: text or None}, an unchanged TOASTed value
    left out -> (row, position after it). Values past the names are read and dropped."""
    (ncols,) = _u16(data, pos)
    pos += 2
    row: dict = {}
    u32 = _u32
    for name in names if ncols == len(names) else (names + (None,) * ncols)[:ncols]:
        kind = data[pos]
        if kind == 0x74:  # 't'
            end = pos + 5 + u32(data, pos + 1)[0]
            row[name] = data[pos + 5 : end].decode()
            pos = end
        elif kind == 0x6E:  # 'n'
            row[name] = None
            pos += 1
        elif kind == 0x75:  # 'u': unchanged TOASTed value, absent from the row
            pos += 1
        elif kind == 0x62:
            raise NotImplementedError("pgoutput binary values ('b') are not supported; omit binary=true")
        else:
            raise ValueError(f"pgoutput: unknown tuple value kind {bytes([kind])!r} at offset {pos}")
    if len(data) < pos:
        raise ValueError("pgoutput: truncated tuple data")
    row.pop(None, None)
    return row, pos


def relid(payload: bytes) -> int:
    """The relation id of an Insert, Update or Delete message."""
    if len(payload) < 6:
        raise ValueError(f"pgoutput: truncated {chr(payload[0])!r} message ({len(payload)} bytes)")
    return _u32(payload, 1)[0]


def row_change(payload: bytes, names: tuple[str, ...]) -> tuple[int, dict | None, bool, dict | None]:
    """An Insert, Update or Delete message whose relation has these column names, read straight
    into rows: (tag, old row or None, whether the old row is the key only, new row or None).

    The change path's form of :func:`decode`: one pass from the bytes to the rows, with no message
    object and no tuple in between (about a third of decoding a change)."""
    tag = payload[0]
    if tag not in ROW_TAGS:
        raise ValueError(f"pgoutput: {bytes([tag])!r} is not an Insert, Update or Delete message")
    old, old_is_key, new = _whole(payload, _rows, names)
    return tag, old, old_is_key, new


def _begin(data: bytes) -> tuple[Begin, int]:
    final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
    return Begin(final_lsn, _epoch(ts), xid), 1 + _BEGIN.size


def _commit(data: bytes) -> tuple[Commit, int]:
    _flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
    return Commit(commit_lsn, end_lsn, _epoch(ts)), 1 + _COMMIT.size


def _origin(data: bytes) -> tuple[Origin, int]:
    (lsn,) = _U64.unpack_from(data, 1)
    name, pos = _cstring(data, 9)
    return Origin(lsn, name), pos


def _relation(data: bytes) -> tuple[Relation, int]:
    (relid,) = _u32(data, 1)
    schema, pos = _cstring(data, 5)
    name, pos = _cstring(data, pos)
    ident = chr(data[pos])
    (ncols,) = _u16(data, pos + 1)
    pos += 3
    cols = []
    for _ in range(ncols):
        flags = data[pos]
        cname, pos = _cstring(data, pos + 1)
        type_oid, type_mod = _REL_COL.unpack_from(data, pos)
        pos += 8
        cols.append(RelationColumn(cname, type_oid, type_mod, bool(flags & 1)))
    return Relation(relid, schema or "pg_catalog", name, ident, tuple(cols)), pos


def _type(data: bytes) -> tuple[TypeMsg, int]:
    (oid,) = _u32(data, 1)
    schema, pos = _cstring(data, 5)
    name, pos = _cstring(data, pos)
    return TypeMsg(oid, schema or "pg_catalog", name), pos


ROW_TAGS: Final = frozenset(b"IUD")  # Insert, Update, Delete: the messages row_change reads


def _rows(data: bytes, names: tuple[str, ...] | None) -> tuple[tuple, int]:
    """The tuples of an Insert, Update or Delete message -> ((old or None, whether old is the key
    only, new or None), position after them): values (:func:`_tuple`), or rows by ``names``."""
    tag, kind = data[0], data[5]
    old = new = None
    old_is_key = kind == 0x4B  # 'K'
    pos = 6
    if tag == 0x44:  # 'D'
        if not old_is_key and kind != 0x4F:  # 'O'
            raise ValueError(f"pgoutput: Delete expects an old tuple ('K' or 'O'), got {bytes([kind])!r}")
        old, pos = _tuple(data, pos) if names is None else _tuple_dict(data, pos, names)
        return (old, old_is_key, new), pos
    if tag == 0x55 and (old_is_key or kind == 0x4F):  # an Update's old key or row
        old, pos = _tuple(data, pos) if names is None else _tuple_dict(data, pos, names)
        kind = data[pos]
        pos += 1
    if kind != 0x4E:  # 'N'
        what = "Insert" if tag == 0x49 else "Update"
        raise ValueError(f"pgoutput: {what} expects a new tuple ('N'), got {bytes([kind])!r}")
    new, pos = _tuple(data, pos) if names is None else _tuple_dict(data, pos, names)
    return (old, old_is_key, new), pos


def _insert(data: bytes) -> tuple[Insert, int]:
    (_, _, new), pos = _rows(data, None)
    return Insert(_u32(data, 1)[0], new), pos


def _update(data: bytes) -> tuple[Update, int]:
    (old, old_is_key, new), pos = _rows(data, None)
    return Update(_u32(data, 1)[0], old, new, old_is_key), pos


def _delete(data: bytes) -> tuple[Delete, int]:
    (old, old_is_key, _), pos = _rows(data, None)
    return Delete(_u32(data, 1)[0], old, old_is_key), pos


def _truncate(data: bytes) -> tuple[Truncate, int]:
    count, options = _TRUNC.unpack_from(data, 1)
    end = 6 + 4 * count
    if len(data) < end:
        raise ValueError("pgoutput: truncated Truncate message")
    relids = struct.unpack_from(f">{count}I", data, 6)
    return Truncate(relids, bool(options & 1), bool(options & 2)), end


def _message(data: bytes) -> tuple[Message, int]:
    flags, lsn = _MSG.unpack_from(data, 1)
    prefix, pos = _cstring(data, 10)
    (length,) = _u32(data, pos)
    end = pos + 4 + length
    if len(data) < end:
        raise ValueError("pgoutput: truncated logical decoding message")
    return Message(bool(flags & 1), lsn, prefix, data[pos + 4 : end]), end


_DECODERS = {
    ord("B"): _begin,
    ord("C"): _commit,
    ord("O"): _origin,
    ord("R"): _relation,
    ord("Y"): _type,
    ord("I"): _insert,
    ord("U"): _update,
    ord("D"): _delete,
    ord("T"): _truncate,
    ord("M"): _message,
}

# Messages of later protocol versions, named in errors so a version mismatch is obvious.
_LATER = {
    ord("S"): "Stream Start (protocol 2)",
    ord("E"): "Stream Stop (protocol 2)",
    ord("c"): "Stream Commit (protocol 2)",
    ord("A"): "Stream Abort (protocol 2)",
    ord("b"): "Begin Prepare (protocol 3)",
    ord("P"): "Prepare (protocol 3)",
    ord("K"): "Commit Prepared (protocol 3)",
    ord("r"): "Rollback Prepared (protocol 3)",
    ord("p"): "Stream Prepare (protocol 3)",
}


def decode(payload: bytes) -> PgOutputMessage:
    """One pgoutput (protocol version 1) message -> its dataclass.

    Raises ValueError for an empty, truncated, over-long or unknown message; NotImplementedError
    for binary tuple values.
    """
    if type(payload) is not bytes:
        payload = bytes(payload)  # memoryview (psycopg2 bytea) or bytearray
    if not payload:
        raise ValueError("pgoutput: empty message")
    tag = payload[0]
    fn = _DECODERS.get(tag)
    if fn is None:
        later = _LATER.get(tag)
        what = f" ({later}; this decoder speaks proto_version 1)" if later else ""
        raise ValueError(f"pgoutput: unknown message type {bytes([tag])!r}{what}")
    return _whole(payload, fn)


def _whole(payload: bytes, read: Callable, names: tuple[str, ...] | None = None) -> Any:
    """``read(payload)`` (a reader of rows: ``read(payload, names)``) -> (result, end), checked to
    have read the whole message."""
    try:
        result, end = read(payload) if names is None else read(payload, names)
    except (struct.error, IndexError) as e:
        tag = chr(payload[0])
        raise ValueError(f"pgoutput: truncated {tag!r} message ({len(payload)} bytes): {e}") from None
    if end != len(payload):
        raise ValueError(
            f"pgoutput: {chr(payload[0])!r} message has {len(payload) - end} unexpected trailing bytes "
            "(is the slot speaking a newer proto_version?)"
        )
    return result


# --------------------------------------------------------------------------- LSNs

_LSN_RE = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def lsn_to_str(lsn: int) -> str:
    """64-bit LSN -> PostgreSQL's spelling, e.g. ``16/B374D848``."""
    if not 0 <= lsn <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"LSN out of range (0 .. 2**64-1): {lsn}")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def str_to_lsn(text: str) -> int:
    """PostgreSQL's LSN spelling (``16/B374D848``, hex, case-insensitive) -> 64-bit int."""
    if not isinstance(text, str):
        raise TypeError(f"LSN must be text like '16/B374D848', got {type(text).__name__}")
    m = _LSN_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"invalid LSN {text!r}: expected two hex numbers of 1-8 digits like '16/B374D848'")
    return (int(m.group(1), 16) << 32) | int(m.group(2), 16)
