"""The pgoutput decoder (and the COPY text codecs) against a real PostgreSQL 15 with wal_level=logical.

One scenario runs once per module: DML on a table with every interesting column type (and a
100 kB TOASTed text column), logical messages, a custom enum type, REPLICA IDENTITY FULL, a
replication origin and truncates. The changes are read twice, through
``pg_logical_slot_peek_binary_changes`` and through psycopg2's streaming replication protocol,
and every payload is decoded.
"""

from __future__ import annotations

import io
import random
import secrets
import select
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
from services import fresh_db

from connectors.postgres import copytext
from connectors.postgres.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    Message,
    Origin,
    Relation,
    Truncate,
    TypeMsg,
    Update,
    decode,
    lsn_to_str,
    str_to_lsn,
)

pytestmark = pytest.mark.integration

COLS = ["id", "name", "amount", "flag", "data", "doc", "ts", "nums", "big"]
# col::text for every column but bool: bool::text is 'true'/'false', while pgoutput (like COPY)
# sends the type's output function text, 't'/'f'; CASE spells that out.
TEXT_SELECT = (
    "SELECT "
    + ", ".join("CASE WHEN flag THEN 't' WHEN NOT flag THEN 'f' END" if c == "flag" else f"{c}::text" for c in COLS)
    + " FROM t WHERE id = %s"
)
ORIGIN_LSN = "1/ABCDEF00"
OPTIONS = {"proto_version": "1", "publication_names": "p", "messages": "true"}


@dataclass
class Scenario:
    url: str
    slot: str  # read with peek
    stream_slot: str  # read with the streaming protocol
    origin: str
    big: str
    t_oid: int = 0
    e_oid: int = 0
    mood_oid: int = 0
    row1: tuple = ()  # SELECT col::text of the first insert
    row10: tuple = ()
    rows: list[tuple[str, bytes]] = field(default_factory=list)  # (lsn, data) from peek
    messages: list[Any] = field(default_factory=list)


def _connect(url: str) -> Any:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def _peek(cur: Any, slot: str, options: dict[str, str]) -> list[tuple[str, bytes]]:
    args = ", ".join(["%s"] * (2 * len(options)))
    cur.execute(
        f"SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, {args})",
        [slot, *[x for kv in options.items() for x in kv]],
    )
    return [(lsn, bytes(data)) for lsn, data in cur.fetchall()]


@pytest.fixture(scope="module")
def scenario(pg: Any) -> Iterator[Scenario]:
    url = fresh_db(pg)
    tag = secrets.token_hex(4)
    sc = Scenario(
        url=url,
        slot=f"opendms_peek_{tag}",
        stream_slot=f"opendms_stream_{tag}",
        origin=f"opendms_upstream_{tag}",
        big="".join(random.Random(20240229).choices(string.ascii_letters + string.digits, k=100_000)),
    )
    conn = _connect(url)
    cur = conn.cursor()
    try:
        cur.execute(
            """
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE TABLE t (
                id int8 PRIMARY KEY, name text, amount numeric(12,2), flag bool, data bytea,
                doc jsonb, ts timestamptz, nums int4[], big text);
            CREATE TABLE e (id int4 PRIMARY KEY, m mood, note text);
            CREATE PUBLICATION p FOR TABLE t, e;
            """
        )
        cur.execute("SELECT 't'::regclass::oid, 'e'::regclass::oid, 'mood'::regtype::oid")
        sc.t_oid, sc.e_oid, sc.mood_oid = cur.fetchone()
        cur.execute("SELECT pg_replication_origin_create(%s)", (sc.origin,))
        for slot in (sc.slot, sc.stream_slot):
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))

        # 1: two inserts, one with every value set (and the big TOASTed one), one all NULL.
        with conn:  # psycopg2: one transaction, even in autocommit mode
            cur.execute(
                "INSERT INTO t VALUES (1, %s, 12.5, true, %s, %s, %s, %s, %s), "
                "(10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
                (
                    "héllo\ttab\nnewline\\backslash ☃",
                    psycopg2.Binary(b"\x00\xff\x10\\"),
                    '{"b": [1, 2.50], "a": "x\\ty"}',
                    "2024-02-29 12:34:56.789+01",
                    [1, None, 3],
                    sc.big,
                ),
            )
        cur.execute(TEXT_SELECT, (1,))
        sc.row1 = cur.fetchone()
        cur.execute("SELECT flag::text FROM t WHERE id = 1")
        assert cur.fetchone()[0] == "true" and sc.row1[3] == "t"
        cur.execute(TEXT_SELECT, (10,))
        sc.row10 = cur.fetchone()
        cur.execute("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 't'::regclass")
        assert cur.fetchone()[0] > 0, "the big value was not TOASTed"

        cur.execute("UPDATE t SET flag = false WHERE id = 1")  # 2: TOAST column unchanged
        cur.execute("UPDATE t SET id = 2 WHERE id = 1")  # 3: key change -> old key tuple
        cur.execute("DELETE FROM t WHERE id = 2")  # 4
        with conn:  # 5: a transactional message, then a custom type's first use
            cur.execute("SELECT pg_logical_emit_message(true, 'opendms', 'in txn')")
            cur.execute("INSERT INTO e VALUES (1, 'happy', 'x')")
        cur.execute("SELECT pg_logical_emit_message(false, 'opendms', %s)", (b"bare\x00bytes",))  # 6
        cur.execute("ALTER TABLE e REPLICA IDENTITY FULL")
        cur.execute("UPDATE e SET note = 'y' WHERE id = 1")  # 7: old full tuple
        cur.execute("DELETE FROM e WHERE id = 1")  # 8
        # 9: a transaction replayed from a replication origin
        cur.execute("SELECT pg_replication_origin_session_setup(%s)", (sc.origin,))
        with conn:
            cur.execute("SELECT pg_replication_origin_xact_setup(%s, now())", (ORIGIN_LSN,))
            cur.execute("INSERT INTO t (id, name) VALUES (3, 'from upstream')")
        cur.execute("SELECT pg_replication_origin_session_reset()")
        cur.execute("TRUNCATE t")  # 10
        cur.execute("TRUNCATE e RESTART IDENTITY CASCADE")  # 11

        sc.rows = _peek(cur, sc.slot, OPTIONS)
        sc.messages = [decode(data) for _, data in sc.rows]
        yield sc
    finally:
        cur.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN (%s, %s)",
            (sc.slot, sc.stream_slot),
        )
        cur.execute(
            "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = %s",
            (sc.origin,),
        )
        conn.close()


def _transactions(messages: list[Any]) -> list[list[Any]]:
    """Group messages by transaction; Relation/Type messages dropped, bare messages stand alone."""
    out: list[list[Any]] = []
    current: list[Any] | None = None
    for m in messages:
        if isinstance(m, Relation | TypeMsg):
            continue
        if isinstance(m, Begin):
            assert current is None, "nested Begin"
            current = [m]
        elif isinstance(m, Commit):
            assert current is not None, "Commit without Begin"
            current.append(m)
            out.append(current)
            current = None
        elif current is None:
            out.append([m])
        else:
            current.append(m)
    assert current is None, "unterminated transaction"
    return out


def _shape(messages: list[Any]) -> list[list[str]]:
    return [[type(m).__name__ for m in txn] for txn in _transactions(messages)]


def test_message_sequence(scenario: Scenario) -> None:
    assert _shape(scenario.messages) == [
        ["Begin", "Insert", "Insert", "Commit"],
        ["Begin", "Update", "Commit"],
        ["Begin", "Update", "Commit"],
        ["Begin", "Delete", "Commit"],
        ["Begin", "Message", "Insert", "Commit"],
        ["Message"],
        ["Begin", "Update", "Commit"],
        ["Begin", "Delete", "Commit"],
        ["Begin", "Origin", "Insert", "Commit"],
        ["Begin", "Truncate", "Commit"],
        ["Begin", "Truncate", "Commit"],
    ]


def test_relations_announced_before_use(scenario: Scenario) -> None:
    known: dict[int, Relation] = {}
    for m in scenario.messages:
        if isinstance(m, Relation):
            known[m.relid] = m
        elif isinstance(m, Insert | Update | Delete):
            assert m.relid in known
            values = m.new if not isinstance(m, Delete) else m.old
            assert len(values) == len(known[m.relid].columns)
        elif isinstance(m, Truncate):
            assert all(r in known for r in m.relids)
    t = known[scenario.t_oid]
    assert (t.schema, t.name, t.replica_identity) == ("public", "t", "d")
    assert [c.name for c in t.columns] == COLS
    assert [c.type_oid for c in t.columns] == [20, 25, 1700, 16, 17, 3802, 1184, 1007, 25]
    assert [copytext.oid_type_name(c.type_oid) for c in t.columns] == [
        "int8", "text", "numeric", "bool", "bytea", "jsonb", "timestamptz", "int4[]", "text",
    ]  # fmt: skip
    assert [c.is_key for c in t.columns] == [True] + [False] * 8
    assert t.columns[2].type_mod == ((12 << 16) | 2) + 4  # numeric(12,2)
    assert t.columns[1].type_mod == -1


def test_type_message_for_custom_enum(scenario: Scenario) -> None:
    """A Type message precedes EVERY Relation message of a table using a non-built-in type."""
    msgs = scenario.messages
    types = [i for i, m in enumerate(msgs) if isinstance(m, TypeMsg)]
    e_rels = [i for i, m in enumerate(msgs) if isinstance(m, Relation) and m.relid == scenario.e_oid]
    assert {msgs[i] for i in types} == {TypeMsg(scenario.mood_oid, "public", "mood")}
    assert [i + 1 for i in types] == e_rels and len(e_rels) >= 2


def test_begin_commit_pairs(scenario: Scenario) -> None:
    now = time.time()
    xids = []
    for txn in _transactions(scenario.messages):
        if len(txn) == 1:
            continue
        b, c = txn[0], txn[-1]
        assert b.final_lsn == c.commit_lsn < c.end_lsn
        assert b.commit_time == c.commit_time
        assert now - 600 < b.commit_time <= now + 5
        xids.append(b.xid)
    assert xids == sorted(xids) and len(set(xids)) == len(xids)
    lsns = [c.commit_lsn for c in scenario.messages if isinstance(c, Commit)]
    assert lsns == sorted(lsns)


def test_insert_values_match_select_text(scenario: Scenario) -> None:
    ins1, ins10 = _transactions(scenario.messages)[0][1:3]
    assert ins1 == Insert(scenario.t_oid, scenario.row1)
    assert ins10 == Insert(scenario.t_oid, ("10",) + (None,) * 8)
    assert scenario.row10 == ("10",) + (None,) * 8
    assert ins1.new[-1] == scenario.big
    assert ins1.new[1] == "héllo\ttab\nnewline\\backslash ☃"
    assert ins1.new[4] == "\\x00ff105c"
    assert ins1.new[7] == "{1,NULL,3}"


def test_update_with_unchanged_toast(scenario: Scenario) -> None:
    (upd,) = _transactions(scenario.messages)[1][1:-1]
    expected = list(scenario.row1)
    expected[3] = "f"
    expected[8] = UNCHANGED
    assert upd == Update(scenario.t_oid, old=None, new=tuple(expected), old_is_key=False)
    assert upd.new[8] is UNCHANGED


def test_update_of_the_key_sends_old_key(scenario: Scenario) -> None:
    (upd,) = _transactions(scenario.messages)[2][1:-1]
    assert upd.old_is_key
    assert upd.old == ("1",) + (None,) * 8
    expected = list(scenario.row1)
    expected[0], expected[3], expected[8] = "2", "f", UNCHANGED
    assert upd.new == tuple(expected)


def test_delete_sends_old_key(scenario: Scenario) -> None:
    (dele,) = _transactions(scenario.messages)[3][1:-1]
    assert dele == Delete(scenario.t_oid, ("2",) + (None,) * 8, old_is_key=True)


def test_logical_messages(scenario: Scenario) -> None:
    txn = _transactions(scenario.messages)[4]
    msg = txn[1]
    assert msg == Message(True, msg.lsn, "opendms", b"in txn")
    assert 0 < msg.lsn < txn[-1].commit_lsn
    assert txn[2] == Insert(scenario.e_oid, ("1", "happy", "x"))
    (bare,) = _transactions(scenario.messages)[5]
    assert bare == Message(False, bare.lsn, "opendms", b"bare\x00bytes")


def test_replica_identity_full(scenario: Scenario) -> None:
    rels = [m for m in scenario.messages if isinstance(m, Relation) and m.relid == scenario.e_oid]
    assert [r.replica_identity for r in rels][:2] == ["d", "f"]  # re-sent after ALTER TABLE
    (upd,) = _transactions(scenario.messages)[6][1:-1]
    assert upd == Update(scenario.e_oid, old=("1", "happy", "x"), new=("1", "happy", "y"), old_is_key=False)
    (dele,) = _transactions(scenario.messages)[7][1:-1]
    assert dele == Delete(scenario.e_oid, ("1", "happy", "y"), old_is_key=False)


def test_origin(scenario: Scenario) -> None:
    txn = _transactions(scenario.messages)[8]
    assert txn[1] == Origin(str_to_lsn(ORIGIN_LSN), scenario.origin)
    assert txn[2] == Insert(scenario.t_oid, ("3", "from upstream") + (None,) * 7)


def test_truncates(scenario: Scenario) -> None:
    tr1 = _transactions(scenario.messages)[9][1]
    tr2 = _transactions(scenario.messages)[10][1]
    assert tr1 == Truncate((scenario.t_oid,), cascade=False, restart_identity=False)
    assert tr2 == Truncate((scenario.e_oid,), cascade=True, restart_identity=True)


def test_lsn_text_round_trip(scenario: Scenario) -> None:
    for lsn, _ in scenario.rows:
        assert lsn_to_str(str_to_lsn(lsn)) == lsn
    with _connect(scenario.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text, %s::pg_lsn::text", ("fFfF/a",))
        current, padded = cur.fetchone()
        assert lsn_to_str(str_to_lsn(current)) == current
        assert lsn_to_str(str_to_lsn("fFfF/a")) == padded == "FFFF/A"
        cur.execute("SELECT %s::pg_lsn::text", (lsn_to_str(2**64 - 1),))
        assert cur.fetchone()[0] == "FFFFFFFF/FFFFFFFF"
    conn.close()


def test_messages_option_is_off_by_default(scenario: Scenario) -> None:
    """The exact query without 'messages' gives the same stream minus the logical messages."""
    conn = _connect(scenario.url)
    try:
        rows = _peek(conn.cursor(), scenario.slot, {"proto_version": "1", "publication_names": "p"})
    finally:
        conn.close()
    without = [decode(d) for _, d in rows]
    assert without == [m for m in scenario.messages if not isinstance(m, Message)]


def test_text_follows_the_decoding_sessions_settings(scenario: Scenario) -> None:
    """Values are output-function text, rendered with the DECODING session's GUCs (TimeZone...)."""
    conn = _connect(scenario.url)
    try:
        cur = conn.cursor()
        cur.execute("SET TimeZone = 'Asia/Kolkata'")
        ins = next(decode(d) for _, d in _peek(cur, scenario.slot, OPTIONS) if d[:1] == b"I")
    finally:
        conn.close()
    assert ins.new[6] == "2024-02-29 17:04:56.789+05:30"
    assert scenario.row1[6] != ins.new[6]


def test_streaming_replication_protocol(scenario: Scenario) -> None:
    """psycopg2's LogicalReplicationConnection delivers the same payloads; decode them the same."""
    conn = psycopg2.connect(scenario.url, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    try:
        cur = conn.cursor()
        cur.start_replication(slot_name=scenario.stream_slot, decode=False, options=OPTIONS)
        got: list[Any] = []
        deadline = time.monotonic() + 30
        last_end = [m for m in scenario.messages if isinstance(m, Commit)][-1].end_lsn
        while time.monotonic() < deadline:
            msg = cur.read_message()
            if msg is None:
                select.select([cur], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
                continue
            assert type(msg.payload) is bytes
            m = decode(msg.payload)
            got.append(m)
            cur.send_feedback(flush_lsn=msg.data_start)
            if isinstance(m, Commit) and m.end_lsn >= last_end:
                break
        else:
            pytest.fail(f"timed out after {len(got)} of {len(scenario.messages)} messages")
    finally:
        conn.close()
    assert got == scenario.messages


def test_copytext_against_live_copy(scenario: Scenario) -> None:
    """COPY TO output parses to what psycopg2 reads; format_rows output loads back via COPY FROM."""
    conn = _connect(scenario.url)
    try:
        cur = conn.cursor()
        cur.execute(
            r"""
            CREATE TEMP TABLE c (
                a int2, b int4, c int8, d oid, e float4, f float8, g numeric(30,10), h bool, i bytea,
                j text, k varchar(20), l date, m timestamptz, n jsonb, o uuid, p int4[], q interval);
            INSERT INTO c VALUES
              (-32768, 2147483647, -9223372036854775808, 4294967295, 1.5, 'NaN',
               -12345678901234567890.0123456789, true, '\x00ff5c0a09', E'tab\there\nnew\\line\r☃ \\N', '',
               '2024-02-29',
               '2024-02-29 12:34:56.789+00', '{"k": "v\\n"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
               '{1,NULL}', '1 day 02:03:04'),
              (1, 2, 3, 4, '-Infinity', 'Infinity', 'NaN', false, '', '\N', NULL, NULL, NULL, NULL, NULL,
               '{}', NULL),
              (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL);
            SET TimeZone = 'UTC';
            """
        )
        cur.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'c'::regclass AND attnum > 0 ORDER BY attnum"
        )
        types = [r[0] for r in cur.fetchall()]
        buf = io.BytesIO()
        cur.copy_expert("COPY c TO STDOUT", buf)
        rows = copytext.parse_lines(buf.getvalue(), [copytext.decoder_for(t) for t in types])
        cur.execute("SELECT " + ", ".join(f"{chr(97 + i)}::text" for i in range(len(types))) + " FROM c")
        as_text = cur.fetchall()
        assert len(rows) == len(as_text) == 3
        for row, text in zip(rows, as_text, strict=True):
            for value, txt, typ in zip(row, text, types, strict=True):
                if txt is None:
                    assert value is None
                    continue
                if typ == "real" or typ == "double precision":
                    assert repr(value) == repr(float(txt))
                elif typ.startswith("numeric"):
                    assert isinstance(value, Decimal) and str(value) == txt
                elif typ == "boolean":
                    assert value is (txt == "true")
                elif typ == "bytea":
                    assert value == bytes.fromhex(txt[2:])
                elif typ in ("smallint", "integer", "bigint", "oid"):
                    assert value == int(txt)
                else:
                    assert value == txt and type(value) is str
        assert rows[0][9] == "tab\there\nnew\\line\r☃ \\N"
        assert rows[1][9] == "\\N" and rows[1][10] is None

        # And back: format_rows -> COPY FROM -> identical table contents.
        cur.execute("CREATE TEMP TABLE c2 (LIKE c)")
        data = copytext.format_rows(rows, [copytext.encoder_for(t) for t in types])
        cur.copy_expert("COPY c2 FROM STDIN", io.BytesIO(data))
        cur.execute("SELECT count(*) FROM ((TABLE c EXCEPT ALL TABLE c2) UNION ALL (TABLE c2 EXCEPT ALL TABLE c)) x")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM c2")
        assert cur.fetchone()[0] == 3

        # The built-in OID table agrees with pg_type.
        known = [o for o in range(0, 5000) if copytext.oid_type_name(o)]
        cur.execute(
            "SELECT t.oid, CASE WHEN t.typelem <> 0 AND t.typlen = -1 AND t.typname LIKE '\\_%%' "
            "THEN el.typname || '[]' ELSE t.typname END "
            "FROM pg_type t LEFT JOIN pg_type el ON el.oid = t.typelem WHERE t.oid = ANY(%s)",
            ([*known],),
        )
        assert dict(cur.fetchall()) == {o: copytext.oid_type_name(o) for o in known}
    finally:
        conn.close()
