"""Documents mode (DMS's document mode for MongoDB): a schemaless source table travels as ``_id`` + ``_doc``
(the whole document as JSON), and every target creates and keeps such a table, by full load and by CDC.
Sources: the memory connector's schemaless table into every target, and each other documents source
(``doc_source``: MongoDB) into the memory engine, PostgreSQL, SQLite and MariaDB."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.base import DOC_BODY, DOC_ID, TableRule

from .engines import DOC_SOURCES, ENGINES, TARGETS, names
from .pipeline import Pipeline

_names = names()
# What each target declares for the document: its JSON type where it has one, else text.
DOCS: list[dict[str, Any]] = [
    {"_id": 1, "name": "ann", "tags": ["a", "b"], "address": {"city": "Köln", "zip": None}, "score": 1.5},
    {"_id": "k2", "note": "emoji 😀 and \"quotes\"\n", "deep": {"a": {"b": {"c": [1, {"d": True}]}}}},
    {"_id": "k3", "fields": "differ from document to document", "n": 12345678901234},
]


def _docs(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows of a documents table -> {_id: the document}, whatever spelling of JSON the target keeps."""
    return {r[DOC_ID]: json.loads(r[DOC_BODY]) if isinstance(r[DOC_BODY], str) else r[DOC_BODY] for r in rows}


DOC_PAIRS = [pytest.param((s, t), id=f"{s}-{t}") for s in DOC_SOURCES for t in TARGETS
             if s == "memory" or t in ("memory", "postgres", "sqlite", "mariadb") or s == t]


@pytest.mark.parametrize("pair", DOC_PAIRS)
def test_a_schemaless_table_replicates_as_documents_to_every_target(engines, pair: tuple[str, str]) -> None:
    source, target = pair
    src, dst = engines[(source, "source")], engines[(target, "target")]
    table = src.create_documents(f"docs_{next(_names)}")
    src.write_documents(table, [("insert", d) for d in DOCS])
    task = f"docs{next(_names)}"
    p = Pipeline(src, dst, table, task).open()
    try:
        assert p.schema.documents and p.schema.column_names == (DOC_ID, DOC_BODY) and p.schema.key == (DOC_ID,)
        p.start_cdc()
        assert p.load() == 3
        assert _docs(p.target_rows()) == {str(d["_id"]): d for d in DOCS}
        if ENGINES[target].doc_type:  # the table the target made, seen by the same engine as a source
            seen = dst.open_source()
            try:
                (made,) = seen.tables([TableRule("%", table.name)])  # in its schema, or the source's
            finally:
                seen.close()
            assert {c.name: c.native for c in made.columns}[DOC_BODY] == ENGINES[target].doc_type

        changed = {**DOCS[0], "tags": [], "added": {"new": "field"}}
        src.write_documents(table, [("insert", {"_id": 4, "only": "inserted"}), ("replace", changed),
                                    ("delete", "k2")])
        assert p.replicate(3) == 3
        want = {"1": changed, "k3": DOCS[2], "4": {"_id": 4, "only": "inserted"}}
        assert _docs(p.target_rows()) == want == _docs(p.source_rows())
    finally:
        p.close()
        p.drop()
