"""Rule handling is linear: the index finds the same rules as matching every pattern, and 10,000 rules
are parsed and checked against 5,000 tables in well under 2 s. DMS's 2 MB cap on table mappings holds."""

from __future__ import annotations

import json
import random
import time

import pytest

from connectors.base import Column, Selection, TableId, TableRule, TableSchema, wildcard_regex
from connectors.errors import ConfigError
from connectors.model.mappings import MAX_MAPPINGS_BYTES, parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.tablemap import build_maps
from connectors.patterns import PatternIndex

ALPHABET = "ab_%[]-"


def _pattern(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 5)):
        pick = rng.random()
        out.append("%" if pick < 0.15 else "_" if pick < 0.3 else rng.choice(["[ab]", "[_]", "[a-b]"]) if pick < 0.4
                   else rng.choice("abc"))
    return "".join(out)


def _name(rng: random.Random) -> str:
    return "".join(rng.choice("abc_") for _ in range(rng.randint(0, 5)))


def _slow(schema: str, table: str, name: TableId) -> bool:
    return bool(wildcard_regex(schema).fullmatch(name.schema) and wildcard_regex(table).fullmatch(name.name))


def test_the_index_finds_exactly_what_matching_every_pattern_finds() -> None:
    rng = random.Random(7)
    for _ in range(30):
        rules = [(_pattern(rng), _pattern(rng)) for _ in range(60)]
        index: PatternIndex[int] = PatternIndex()
        for n, (schema, table) in enumerate(rules):
            index.add(schema, table, n)
        for _ in range(60):
            name = TableId(_name(rng), _name(rng))
            assert index.find(name.schema, name.name) == [
                n for n, (schema, table) in enumerate(rules) if _slow(schema, table, name)], (rules, name)


def test_selection_with_explicit_include_and_exclude_rules() -> None:
    rules = [TableRule("public", "%", "include", 1), TableRule("public", "tmp[_]%", "exclude", 2),
             TableRule("audit", "log_2024", "explicit", 3), TableRule("audit", "log_202%", "exclude", 4)]
    selection = Selection(rules)
    assert selection.selects(TableId("public", "orders"))
    assert not selection.selects(TableId("public", "tmp_orders"))
    assert selection.selects(TableId("public", "tmporders"))  # [_] is a literal underscore
    assert not selection.selects(TableId("audit", "log_2024"))  # explicit includes, exclude still wins
    assert not selection.selects(TableId("audit", "logX2024"))  # explicit is literal: _ is no wildcard there
    assert not selection.selects(TableId("publicx", "orders"))  # % stays within its name


def _mappings(n_tables: int) -> str:
    rules = [{"rule-type": "selection", "rule-id": "1", "rule-name": "all-but-tmp", "rule-action": "exclude",
              "object-locator": {"schema-name": "%", "table-name": "tmp%"}}]
    for i in range(n_tables):
        rules.append({"rule-type": "selection", "rule-id": str(2 * i + 2), "rule-name": f"s{i}",
                      "rule-action": "include", "object-locator": {"schema-name": "app",
                                                                   "table-name": f"order_line_{i:05d}"}})
        rules.append({"rule-type": "transformation", "rule-id": str(2 * i + 3), "rule-name": f"t{i}",
                      "rule-action": "rename", "rule-target": "table",
                      "object-locator": {"schema-name": "app", "table-name": f"order_line_{i:05d}"},
                      "value": f"ol_{i}"})
    return json.dumps({"rules": rules})


def test_ten_thousand_rules_are_checked_in_well_under_two_seconds() -> None:
    text = _mappings(5000)  # 10,001 rules, 1.8 MB: near DMS's cap
    assert len(text) < MAX_MAPPINGS_BYTES
    tables = [TableId("app", f"order_line_{i:05d}") for i in range(5000)] + [
        TableId("app", f"tmp_{i}") for i in range(100)]
    columns = (Column("id", "int4", False, "integer"), Column("note", "text", True, "text"))
    started = time.process_time()
    mappings = parse_table_mappings(text)
    selected = [t for t in tables if mappings.selects(t)]
    maps = build_maps(mappings, parse_task_settings(None),
                      [TableSchema(t, columns, ("id",), "postgres") for t in selected])
    spent = time.process_time() - started
    print(f"\n10,001 rules against 5,100 tables: parsed, selected and mapped in {spent:.2f} s of CPU")
    assert len(selected) == 5000 and maps[TableId("app", "order_line_04321")].target.table == TableId("app", "ol_4321")
    assert spent < 2.0


def test_a_mapping_over_dms_s_two_megabytes_is_refused_at_once() -> None:
    text = _mappings(12_000)  # 24,001 rules, 4.3 MB
    started = time.process_time()
    with pytest.raises(ConfigError) as info:
        parse_table_mappings(text, "table mappings file big.json")
    assert time.process_time() - started < 0.5
    assert str(info.value).startswith("table mappings file big.json is 4.")
    assert "DMS takes table mappings of at most 2 MB (2,097,152 bytes); split the tables across several tasks" \
        in str(info.value)
