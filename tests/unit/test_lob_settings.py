"""LOB settings: whole LOBs unless the settings name a LOB key; limited LOB mode as DMS resolves it; validation
tells records a LOB setting cut from other mismatches."""

from __future__ import annotations

import json

import pytest

from connectors.base import Column, TableId, TableSchema
from connectors.model.lobs import LobLimit, lob_limit
from connectors.model.mappings import LobSettings, parse_table_mappings
from connectors.model.settings import parse_task_settings
from connectors.model.tablemap import build_map
from worker.compare import compare, cut_by_lob_limit

DOCS = TableSchema(TableId("public", "docs"), (
    Column("id", "int4", False, "integer"), Column("body", "text", True, "text"),
    Column("data", "bytes", True, "bytea"),
    Column("code", "text", True, "character varying(40)")), ("id",))
SELECT_ALL = {"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
                         "object-locator": {"schema-name": "%", "table-name": "%"}}]}


def limit_of(doc: dict | None) -> int | None:
    return parse_task_settings(json.dumps(doc) if doc is not None else None).target_metadata.lob_max_kb


@pytest.mark.parametrize(("doc", "kb"), [
    (None, None),  # no settings at all: whole
    ({"FullLoadSettings": {"CommitRate": 500}}, None),  # settings, but no LOB key: whole
    ({"TargetMetadata": {"TargetSchema": "x", "LobChunkSize": 64}}, None),  # LobChunkSize alone asks for no cut
    ({"TargetMetadata": {"LobMaxSize": None}}, None),  # null is "not set"
    ({"TargetMetadata": {"SupportLobs": True}}, 32),  # a LOB key named: DMS's defaults for the rest
    ({"TargetMetadata": {"LimitedSizeLobMode": True}}, 32),
    ({"TargetMetadata": {"LobMaxSize": 64}}, 64),
    ({"TargetMetadata": {"InlineLobMaxSize": 0}}, 32),
    ({"TargetMetadata": {"SupportLobs": True, "FullLobMode": False, "LobChunkSize": 0, "LimitedSizeLobMode": True,
                         "LobMaxSize": 32, "InlineLobMaxSize": 0}}, 32),  # a DMS console export
    ({"TargetMetadata": {"FullLobMode": True}}, None),
    ({"TargetMetadata": {"FullLobMode": True, "LimitedSizeLobMode": True, "LobMaxSize": 8}}, None),
    ({"TargetMetadata": {"LimitedSizeLobMode": False}}, None),
    ({"TargetMetadata": {"SupportLobs": False}}, None),  # LOB columns are dropped instead
    ({"TargetMetadata": {"LobMaxSize": 0}}, None),
])
def test_lob_limit_from_task_settings(doc: dict | None, kb: int | None) -> None:
    assert limit_of(doc) == kb


def test_effective_settings_say_full_lob_mode_when_no_lob_key_is_named() -> None:
    tm = parse_task_settings("").to_json()["TargetMetadata"]
    assert (tm["FullLobMode"], tm["LimitedSizeLobMode"]) == (True, False)
    tm = parse_task_settings('{"TargetMetadata": {"LobMaxSize": 16}}').to_json()["TargetMetadata"]
    assert (tm["FullLobMode"], tm["LimitedSizeLobMode"], tm["LobMaxSize"]) == (False, True, 16)


def test_table_rules_override_the_task_settings() -> None:
    none, limited = parse_task_settings(""), parse_task_settings('{"TargetMetadata": {"LobMaxSize": 8}}')
    docs = TableId("public", "docs")
    assert lob_limit(none, LobSettings(3, docs, "limited", 64)) == LobLimit(
        64, "table-settings rule 3 (lob-settings limited)", "bulk-max-size")
    assert lob_limit(none, LobSettings(3, docs, "limited", 0)).kb == 32  # DMS's LobMaxSize default
    assert lob_limit(limited, LobSettings(3, docs, "unlimited")) is None
    assert lob_limit(limited, LobSettings(3, docs, "none")) == LobLimit(8, "LimitedSizeLobMode", "LobMaxSize")
    assert lob_limit(limited).cause == "LimitedSizeLobMode cut values over LobMaxSize=8 KB"


def test_mapscut_by_lob_limit_when_asked() -> None:
    mappings = parse_table_mappings(json.dumps(SELECT_ALL))
    whole = build_map(mappings, parse_task_settings(""), DOCS)
    assert whole.lob_limit is None and whole.lob_setting is None and whole.identity
    cut = build_map(mappings, parse_task_settings('{"TargetMetadata": {"LobMaxSize": 1}}'), DOCS)
    assert cut.lob_limit == 1024 and cut.lob_setting.cause == "LimitedSizeLobMode cut values over LobMaxSize=1 KB"
    big = {"id": 1, "body": "b" * 3000, "data": b"\x00" * 3000, "code": "c"}
    (row,) = cut.target_rows([big])
    assert (len(row["body"]), len(row["data"])) == (1024, 1024) and cut.take_truncations() == 2
    assert cut.target_rows([big], whole=True) == [big] and cut.take_truncations() == 0


def test_validation_tells_cut_records_apart() -> None:
    mapped = build_map(parse_table_mappings(json.dumps(SELECT_ALL)),
                       parse_task_settings('{"TargetMetadata": {"LobMaxSize": 1}}'), DOCS)
    source = [{"id": i, "body": "b" * 2000, "data": b"d" * 2000, "code": "c"} for i in range(1, 5)]
    target = [dict(r, body=r["body"][:1024], data=r["data"][:1024]) for r in source]
    target[2]["code"] = "other"  # differs beyond the cut too: a plain difference
    target[3]["body"] = "b" * 1000  # cut shorter than the limit: not what the setting does
    r = compare(mapped.copied, iter([mapped.target_rows(source, whole=True)]), iter([target]),
                cut=cut_by_lob_limit(mapped))
    assert not r.equal and r.mismatches == 4
    assert (r.cut, r.cut_count, r.different) == ([[1], [2]], 2, [[3], [4]])
    r.cut_cause = mapped.lob_setting.cause
    assert r.cut_note == "2 rows differ because LimitedSizeLobMode cut values over LobMaxSize=1 KB"
    doc = r.to_json()
    assert (doc["ValidationState"], doc["CutBySettings"], doc["Cut"]) == ("Mismatched records", 2, [[1], [2]])
    # Without a limit nothing is told apart: whole LOBs must be equal.
    whole = build_map(parse_table_mappings(json.dumps(SELECT_ALL)), parse_task_settings(""), DOCS)
    assert cut_by_lob_limit(whole) is None
