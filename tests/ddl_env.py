"""Helpers of the schema-change tests (tests/integration/test_ddl*.py): a PostgreSQL target's tables as they are."""

from __future__ import annotations

from dms_env import connect


def columns(url: str, table: str) -> list[tuple[str, str]]:
    """(name, declared type) of a PostgreSQL table's columns, in order."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,))
        found = cur.fetchall()
    conn.close()
    return found


def exists(url: str, table: str) -> bool:
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
        (found,), = cur.fetchall()
    conn.close()
    return found


def no_errors(dms, task: str) -> None:
    stats = dms.stats(task)
    assert not [t for t, s in stats.items() if s["TableState"] == "Table error"], stats


def rename_and_remove_rules(schema: str) -> dict:
    """Table mappings selecting ``schema``'s tables whose rules rename mapped.t to title and remove mapped.secret."""
    rule = {"rule-type": "transformation", "rule-target": "column",
            "object-locator": {"schema-name": schema, "table-name": "mapped"}}
    return {"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "1", "rule-action": "include",
         "object-locator": {"schema-name": schema, "table-name": "%"}},
        {**rule, "rule-id": "2", "rule-name": "2", "rule-action": "rename", "value": "title",
         "object-locator": {**rule["object-locator"], "column-name": "t"}},
        {**rule, "rule-id": "3", "rule-name": "3", "rule-action": "remove-column",
         "object-locator": {**rule["object-locator"], "column-name": "secret"}}]}
