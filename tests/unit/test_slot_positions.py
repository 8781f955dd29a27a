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
