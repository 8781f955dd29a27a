"""Binlog positions: a binlog file and an offset in it, as one ordered ``Position``.

A server writes its binlog as numbered files (``mysql-bin.000001``, ``mysql-bin.000002``, ...; the number
has at least six digits), each at most ``max_binlog_size`` (1 GiB by default, 4 GiB at most), so a file's
number and an offset in it fit one 64-bit integer that orders exactly as the log does: ``major`` is
``number << 32 | offset``. The log (``Position.log``) names the server and the files' base name: positions of
another server, or of files of another base name, never compare.

``major`` of a change is where its transaction starts (the offset of its GTID or BEGIN event): reading
from there reads the whole transaction again, and the changes in it are numbered from 1 (``minor``), so
a resume from a checkpoint inside a transaction skips what was applied. A heartbeat (minor 0) carries the
offset where the next transaction will start: the end of the last one read. The token users see and give
(``CdcStartPosition``, ``RecoveryCheckpoint``) is DMS's: ``mysql-bin-changelog.000024:373``. The transaction's
GTID travels as each change's ``txid`` (MariaDB ``0-1-42``, MySQL ``uuid:42``).
"""

from __future__ import annotations

import re

from connectors.base import Position

_OFFSET_BITS = 32
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
_TOKEN = re.compile(r"^(?P<file>[^\s:/\\]+)\.(?P<number>\d{6,}):(?P<offset>\d+)$")
EXAMPLE = "mysql-bin.000024:373"


def log_id(server: str, basename: str) -> str:
    """The log's identity: the server (its server_uuid, or its server_id where it has none) and the base name
    of its binlog files."""
    return f"binlog:{server}:{basename}"


def file_number(name: str) -> int:
    """mysql-bin.000042 -> 42."""
    return int(name.rsplit(".", 1)[1])


def basename(name: str) -> str:
    """mysql-bin.000042 -> mysql-bin."""
    return name.rsplit(".", 1)[0]


def major(name: str, offset: int) -> int:
    if not 0 <= offset <= _OFFSET_MASK:
        raise ValueError(f"binlog offset {offset} is outside 0..{_OFFSET_MASK}")
    return file_number(name) << _OFFSET_BITS | offset


def file_of(log: str, value: int) -> str:
    """The file of a ``major`` in a log: the server's own spelling (six digits at least)."""
    return f"{log.split(':', 2)[2]}.{value >> _OFFSET_BITS:06d}"


def offset_of(value: int) -> int:
    return value & _OFFSET_MASK


def token(name: str, offset: int) -> str:
    return f"{name}:{offset}"


def position(log: str, name: str, offset: int, minor: int = 0) -> Position:
    return Position(log, major(name, offset), minor, token(name, offset))


def at(log: str, value: int, minor: int = 0) -> Position:
    """A Position from a ``major`` of the log."""
    name = file_of(log, value)
    return Position(log, value, minor, token(name, offset_of(value)))


def where(p: Position) -> tuple[str, int]:
    """(file, offset) where reading resumes for a position."""
    return file_of(p.log, p.major), offset_of(p.major)


def position_error(text: str) -> str | None:
    """Why ``text`` is not a binlog position in DMS's spelling, or None."""
    found = _TOKEN.match(text.strip())
    if found is None:
        return (f"CDC start position {text!r} is not a binlog position: give the binlog file and offset as "
                f"SHOW MASTER STATUS shows them, e.g. {EXAMPLE}")
    if int(found["offset"]) > _OFFSET_MASK:
        return f"CDC start position {text!r}: the offset is past any binlog file's end (4 GiB)"
    return None


def parse(text: str) -> tuple[str, int]:
    """'mysql-bin.000024:373' -> ('mysql-bin.000024', 373); position_error says why not first."""
    found = _TOKEN.match(text.strip())
    if found is None:
        raise ValueError(position_error(text))
    return f"{found['file']}.{found['number']}", int(found["offset"])
