"""Replication slots as the rest of OpenDMS sees them: start positions checked against the WAL and the
slot, the WAL a slot keeps, slots that lost their changes, and slots no task owns any more."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from connectors.base import Endpoint, Position, Retained, human_bytes

from . import pgoutput
from .connect import quote_ident, task_object_name

Query = Callable[..., list[tuple]]

WARN_SETTING = "retainedWalWarnMB"  # the source endpoint's extra connection attribute
WARN_DEFAULT_MB = 1024

# The end of the WAL is its insert position: with synchronous_commit off a commit can be there before
# pg_current_wal_lsn() (the write position) reaches it, and a position copied from it is still real.
_SLOT_SQL = """
SELECT confirmed_flush_lsn::text, restart_lsn IS NULL OR wal_status = 'lost',
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
FROM pg_replication_slots WHERE slot_name = %s
"""
_END_SQL = "SELECT pg_current_wal_insert_lsn()::text"
_ORPHANS_SQL = """
SELECT s.slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, s.active,
       EXISTS (SELECT 1 FROM pg_publication p WHERE p.pubname = s.slot_name)
FROM pg_replication_slots s
WHERE s.slot_name LIKE 'dms\\_%%' AND s.database = current_database()
ORDER BY s.slot_name
"""


def lsn_error(text: str) -> str | None:
    """Why ``text`` is neither an LSN (16/B374D848) nor a DMS checkpoint carrying one, or None."""
    try:
        lsn_of(text)
    except ValueError:
        return (f"CDC start position {text!r} is not a PostgreSQL LSN such as 16/B374D848 or a RecoveryCheckpoint "
                "such as checkpoint:V1#1#000004AF/B00000D0#0#0#*#0#0")
    return None


def lsn_of(text: str) -> int:
    # DMS's checkpoint form carries the LSN as one of its fields: checkpoint:V1#1#000004AF/B00000D0#0#0#*#0#0
    if text.startswith("checkpoint:"):
        text = next((f for f in text.removeprefix("checkpoint:").split("#") if "/" in f), "")
    return pgoutput.str_to_lsn(text)


def check_position(query: Query, ep: Endpoint, task: str, slot: str, position: Position) -> str | None:
    (end_text,), = query(_END_SQL)
    end = pgoutput.str_to_lsn(end_text)
    if position.major > end:
        return (f"CDC start position {position.token} is ahead of the end of the WAL on {ep.where()} ({end_text}): "
                "capture would skip every change until the WAL got there, and mark them read; give a position "
                f"at or before {end_text}, such as the RecoveryCheckpoint of `dms task describe`")
    found = query(_SLOT_SQL, (slot,))
    named = bool(ep.extra.get("slotName"))
    if not found:
        if named:
            return f"slot {slot!r} named by the endpoint's slotName does not exist on {ep.where()}: create it"
        if position.major < end:
            return (f"CDC start position {position.token} is before the end of the WAL on {ep.where()} "
                    f"({end_text}), and task {task}'s replication slot is only created when it starts, so changes "
                    "before then cannot be read: name a slot that holds them with the endpoint's slotName, or "
                    "leave out --cdc-start-position to start from now")
        return None
    confirmed_text, lost, _ = found[0]
    if lost:
        return lost_message(ep, task, slot)
    if confirmed_text is not None and position.major < pgoutput.str_to_lsn(confirmed_text):
        return (f"CDC start position {position.token} is before {confirmed_text}, the oldest position replication "
                f"slot {slot} on {ep.where()} still holds (its confirmed_flush_lsn): changes before it can no "
                f"longer be read; give a position at or after {confirmed_text}")
    return None


def lost_message(ep: Endpoint, task: str, slot: str) -> str:
    fix = "; re-create the slot named by the endpoint's slotName" if ep.extra.get("slotName") else ""
    return (f"replication slot {slot} of task {task} on {ep.where()} was invalidated (wal_status lost: the WAL it "
            f"held went past max_slot_wal_keep_size and was removed), so it lost the changes since the task's "
            f"checkpoint{fix}")


def capture_lost(query: Query, ep: Endpoint, task: str, slot: str) -> str | None:
    found = query(_SLOT_SQL, (slot,))
    if not found:
        return f"replication slot {slot} of task {task} is gone from {ep.where()}, so the changes since its " \
               "checkpoint are lost"
    return lost_message(ep, task, slot) if found[0][1] else None


RETAINED_KEY = "SlotRetainedWalBytes"  # in `task describe --json` and `task list --json` since the first release


def retained(query: Query, ep: Endpoint, slot: str) -> Retained | None:
    found = query(_SLOT_SQL, (slot,))
    if not found or found[0][2] is None:
        return None
    try:
        warn_mb = float(ep.extra.get(WARN_SETTING, WARN_DEFAULT_MB))
    except ValueError:
        warn_mb = WARN_DEFAULT_MB
    return Retained(int(found[0][2]), f"replication slot {slot}", "WAL", int(warn_mb * 1024 * 1024),
                    f"the source endpoint's {WARN_SETTING}, default {WARN_DEFAULT_MB}", RETAINED_KEY)


def leftovers(query: Query, ep: Endpoint, tasks: Iterable[str]) -> list[str]:
    owned = {task_object_name(t) for t in tasks} | {ep.extra.get("slotName")}
    lines = []
    for name, held, active, has_publication in query(_ORPHANS_SQL):
        if name in owned:
            continue
        holds = "nothing (invalidated)" if held is None else f"{human_bytes(held)} of WAL"
        drop = f"SELECT pg_drop_replication_slot({_literal(name)});"
        if has_publication:
            drop += f" DROP PUBLICATION {quote_ident(name)};"
        lines.append(f"replication slot {name} on {ep.where()} belongs to no task of this catalog"
                     f"{' (in use by a reader right now)' if active else ''} and holds {holds}: drop it with {drop}")
    return lines


def capture_objects(ep: Endpoint, task: str) -> list[tuple[str, str]]:
    name = task_object_name(task)
    found = []
    if not ep.extra.get("slotName"):  # a slot or publication named by the endpoint is the user's
        found.append((f"replication slot {name}", "SELECT pg_drop_replication_slot(slot_name) FROM "
                      f"pg_replication_slots WHERE slot_name = {_literal(name)};"))
    if not ep.extra.get("publicationName"):
        found.append((f"publication {name}", f"DROP PUBLICATION IF EXISTS {quote_ident(name)};"))
    return found


def _literal(text: Any) -> str:
    return "'" + str(text).replace("'", "''") + "'"
