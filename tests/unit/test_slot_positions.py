"""The spelling of PostgreSQL start positions and what a task leaves behind, checked without a server
(the checks against the WAL and a slot are proven on a real server: tests/integration/test_capture.py)."""

from __future__ import annotations

import pytest

from connectors.base import Endpoint, human_bytes
from connectors.postgres.slots import capture_objects, lsn_error, lsn_of


@pytest.mark.parametrize("text", ["garbage", "0/ZZZ", "checkpoint:garbage", "1/", "/1", "123456789/0", ""])
def test_garbage_is_not_a_position(text: str) -> None:
    assert "is not a PostgreSQL LSN such as 16/B374D848" in lsn_error(text)


def test_lsns_and_dms_checkpoints_are_positions() -> None:
    assert lsn_error("FFFFFFFF/FFFFFFFF") is None  # well spelt: whether the WAL holds it is the server's to say
    assert lsn_of("16/B374D848") == 0x16_B374D848
    assert lsn_of("checkpoint:V1#1#000004AF/B00000D0#0#0#*#0#0") == 0x4AF_B00000D0


def test_what_a_deleted_task_leaves_is_named_with_the_sql_that_drops_it() -> None:
    ep = Endpoint("src", "source", "postgres", "h", 5432, "app")
    assert capture_objects(ep, "T-1") == [
        ("replication slot dms_t_1",
         "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'dms_t_1';"),
        ("publication dms_t_1", 'DROP PUBLICATION IF EXISTS "dms_t_1";')]
    named = Endpoint("src", "source", "postgres", extra={"slotName": "mine", "publicationName": "pub"})
    assert capture_objects(named, "t") == []  # the user's own slot and publication stay theirs


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1536, 397 * 1024**2, 3 * 1024**4)] == [
        "0 bytes", "1023 bytes", "1.5 KiB", "397.0 MiB", "3.0 TiB"]


def test_retained_log_warns_above_its_threshold_with_the_cure_for_the_task_s_status() -> None:
    from connectors.base import Retained
    from scheduler.capture import short, warnings

    held = Retained(397 * 1024**2, "replication slot dms_t1", "WAL", 256 * 1024**2, "the endpoint's retainedWalWarnMB")
    (stopped,) = warnings("t1", "stopped", held)
    assert stopped == ("replication slot dms_t1 keeps 397.0 MiB of the source's WAL for task t1, over 256.0 MiB (the "
                       "endpoint's retainedWalWarnMB): resume the task (`dms task start t1`) so that it reads and "
                       "frees it, or delete it (`dms task delete t1`)")
    (running,) = warnings("t1", "running", held)
    assert running.endswith("the task reads behind the source: see `dms task metrics t1` (CDCLatencySource)")
    below = Retained(1024, "replication slot dms_t1", "WAL", 256 * 1024**2, "")
    assert warnings("t1", "stopped", below) == [] and warnings("t1", "stopped", "not known: away") == []
    assert (short(held), short(None), short("not known: away")) == ("397.0 MiB WAL", "-", "?")
