"""The import arrows of the layout (docs/architecture.md, Layout): scheduler -> worker -> connectors, the task model in
connectors/model imported by both wings, engines importing neither the model nor either wing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("worker", ("scheduler",)),
    ("connectors", ("scheduler", "worker")),
])
def test_a_wing_never_imports_what_depends_on_it(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = [f"{p.relative_to(REPO)} imports {m}" for p in _modules(folder) for m in _imports(p)
           if m.split(".")[0] in forbidden]
    assert not bad, bad


def test_engines_never_import_the_task_model() -> None:
    engines = [p for p in _modules("connectors") if p.parent.name not in ("connectors", "model")]
    bad = [f"{p.relative_to(REPO)} imports {m}" for p in engines for m in _imports(p)
           if m.startswith("connectors.model")]
    assert not bad, bad
