"""No module of the product over 600 lines (STYLE.md, issue 14): a module that would cross it is split."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT = 600


def test_no_module_of_the_scheduler_the_workers_or_the_connectors_is_over_600_lines() -> None:
    over = {}
    for wing in ("scheduler", "worker", "connectors"):
        for path in sorted((REPO / wing).rglob("*.py")):
            lines = len(path.read_text().splitlines())
            if lines > LIMIT:
                over[str(path.relative_to(REPO))] = lines
    assert not over, f"modules over {LIMIT} lines (split them): {over}"
