"""Position ordering and encoding, TableId, and DMS wildcard selection rules."""

from __future__ import annotations

import random

import pytest

from connectors.base import Position, TableId, TableRule, selects, wildcard_regex


def sid_key(sid: str) -> tuple[int, int]:
    major, minor = sid.split("-")
    return int(major), int(minor)


def test_orders_by_major_then_minor() -> None:
    a, b, c, d = Position("L", 1, 5), Position("L", 2, 0), Position("L", 2, 1), Position("L", 10, 0)
    assert a < b < c < d
    assert d > c > b > a
    assert a <= a and a >= a
    assert sorted([d, b, a, c]) == [a, b, c, d]
    assert max([a, d, c]) is d


def test_token_is_not_part_of_identity() -> None:
    assert Position("L", 3, 4, "0/3") == Position("L", 3, 4, "other")
    assert not Position("L", 3, 4) < Position("L", 3, 4, "x")
    assert hash(Position("L", 3, 4, "a")) == hash(Position("L", 3, 4, "b"))


def test_different_logs_never_compare() -> None:
    a, b = Position("log-a", 1), Position("log-b", 2)
    with pytest.raises(ValueError, match="log-a"):
        _ = a < b
    with pytest.raises(ValueError):
        _ = b > a
    with pytest.raises(ValueError):
        _ = a <= b
    with pytest.raises(ValueError):
        sorted([a, b])
    assert a != b  # equality is still defined: simply not equal


def test_stream_id_format() -> None:
    assert Position("L", 0x16B3748, 7, "0/16B3748").stream_id == "23803720-7"
    assert Position("L", 5).stream_id == "5-0"  # heartbeat: minor 0


def test_stream_ids_order_like_positions() -> None:
    rng = random.Random(7)
    positions = [Position("L", rng.randrange(0, 2**40), rng.randrange(0, 2**20)) for _ in range(300)]
    positions += [Position("L", 9, 0), Position("L", 10, 0), Position("L", 9, 10), Position("L", 9, 2)]
    by_position = sorted(positions)
    by_sid = sorted(positions, key=lambda p: sid_key(p.stream_id))
    assert [p.stream_id for p in by_position] == [p.stream_id for p in by_sid]
    for p in positions:
        assert Position("L", *sid_key(p.stream_id)) == p


def test_encode_decode_round_trip() -> None:
    p = Position("pg:7312:dms_task", 123456789, 42, "0/75BCD15")
    text = p.encode()
    assert text == "pg:7312:dms_task|123456789|42|0/75BCD15"
    q = Position.decode(text)
    assert (q.log, q.major, q.minor, q.token) == (p.log, p.major, p.minor, p.token)


def test_decode_keeps_pipes_in_token() -> None:
    p = Position("L", 1, 2, "a|b||c|")
    q = Position.decode(p.encode())
    assert q.token == "a|b||c|"
    assert (q.log, q.major, q.minor) == ("L", 1, 2)


def test_decode_empty_token() -> None:
    q = Position.decode(Position("L", 8).encode())
    assert (q.log, q.major, q.minor, q.token) == ("L", 8, 0, "")


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        Position.decode("L|x|1|t")
    with pytest.raises(ValueError):
        Position.decode("only-one-field")


def test_table_id_parse_and_str() -> None:
    t = TableId.parse("public.orders")
    assert t == TableId("public", "orders")
    assert str(t) == "public.orders"
    dotted = TableId("s", "a.b")  # only the first dot separates the schema
    assert TableId.parse(str(dotted)) == dotted
    assert sorted([TableId("b", "a"), TableId("a", "z"), TableId("a", "b")]) == [
        TableId("a", "b"), TableId("a", "z"), TableId("b", "a")]


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("%", ["", "x", "any_thing.at all"], []),
        ("ord%", ["ord", "orders", "ord_1"], ["xord", "Orders"]),
        ("%_log", ["a_log", "ab_log", "_log", "xlog"], ["log", "a_lo"]),
        ("t_", ["t1", "tx", "t_"], ["t", "t12"]),
        ("a[_]b", ["a_b"], ["axb", "a__b", "ab"]),
        ("t[ab]", ["ta", "tb"], ["tc", "t", "tab"]),
        ("t[a-d]x", ["tax", "tcx", "tdx"], ["tex", "tx", "tAx"]),
        ("a.b", ["a.b"], ["axb"]),  # regex metacharacters are literal
        ("a+(b)", ["a+(b)"], ["aab"]),
        ("x[^]y", ["x^y"], ["xzy"]),  # '^' inside brackets is a literal, not a negation
    ],
)
def test_wildcard_regex(pattern: str, yes: list[str], no: list[str]) -> None:
    rx = wildcard_regex(pattern)
    for name in yes:
        assert rx.fullmatch(name), (pattern, name)
    for name in no:
        assert not rx.fullmatch(name), (pattern, name)


def test_wildcard_unclosed_bracket() -> None:
    with pytest.raises(ValueError, match="unclosed"):
        wildcard_regex("ab[cd")


def test_rule_matches_schema_and_table() -> None:
    rule = TableRule("sales", "ord%")
    assert rule.matches(TableId("sales", "orders"))
    assert not rule.matches(TableId("public", "orders"))
    assert not rule.matches(TableId("sales", "items"))


def test_explicit_rule_takes_names_literally() -> None:
    rule = TableRule("s_1", "t%", "explicit")
    assert rule.matches(TableId("s_1", "t%"))
    assert not rule.matches(TableId("sx1", "t%"))
    assert not rule.matches(TableId("s_1", "tables"))
    assert selects([rule], TableId("s_1", "t%"))
    assert not selects([rule], TableId("s_1", "t1"))


def test_exclude_subtracts_from_include() -> None:
    rules = [TableRule("%", "%", "include", 1), TableRule("public", "tmp[_]%", "exclude", 2)]
    assert selects(rules, TableId("public", "orders"))
    assert selects(rules, TableId("public", "tmpx"))  # [_] is a literal underscore
    assert not selects(rules, TableId("public", "tmp_1"))
    assert selects(rules, TableId("other", "tmp_1"))


def test_exclude_only_selects_nothing() -> None:
    rules = [TableRule("%", "%", "exclude", 1)]
    assert not selects(rules, TableId("public", "t"))
    assert not selects([], TableId("public", "t"))


def test_exclude_wins_over_explicit() -> None:
    rules = [TableRule("public", "t1", "explicit", 1), TableRule("public", "t%", "exclude", 2)]
    assert not selects(rules, TableId("public", "t1"))
