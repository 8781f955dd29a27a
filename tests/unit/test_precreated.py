"""Pieces of loading into a pre-created PostgreSQL schema that need no server (the rest is in
tests/integration/test_precreated_schema.py)."""

from __future__ import annotations

import pytest

from connectors.postgres.classify import fix_for
from connectors.postgres.prepare import deferred_form


@pytest.mark.parametrize(("definition", "deferred"), [
    ("FOREIGN KEY (a) REFERENCES p(a) ON UPDATE CASCADE ON DELETE RESTRICT",
     "FOREIGN KEY (a) REFERENCES p(a) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE"),
    ("FOREIGN KEY (a) REFERENCES p(a) ON UPDATE RESTRICT",
     "FOREIGN KEY (a) REFERENCES p(a) DEFERRABLE INITIALLY IMMEDIATE"),
    ("FOREIGN KEY (a) REFERENCES p(a) ON DELETE CASCADE", "FOREIGN KEY (a) REFERENCES p(a) ON DELETE CASCADE "
                                                          "DEFERRABLE INITIALLY IMMEDIATE"),
    ("FOREIGN KEY (a) REFERENCES p(a) DEFERRABLE INITIALLY DEFERRED",
     "FOREIGN KEY (a) REFERENCES p(a) DEFERRABLE INITIALLY DEFERRED"),  # already deferrable: as it is
])
def test_a_key_while_changes_apply_is_deferrable_and_never_restrict(definition: str, deferred: str) -> None:
    assert deferred_form(definition) == deferred


def test_fixes_by_longest_sqlstate_prefix() -> None:
    assert "foreign key" in fix_for("23503")
    assert "constraint of the target table" in fix_for("23514")
    assert fix_for("42P01") != fix_for("42883") and "pg_dump --schema-only" in fix_for("42883")
    assert fix_for("XX000") == ""
