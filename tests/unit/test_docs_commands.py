"""Every `dms` command and option the README and docs/ show exists: a renamed or removed one fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from scheduler.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# `dms GROUP VERB` or `dms COMMAND`, verbs may be listed as a|b|c; then the rest of the line for its options
# (`aws dms VERB` is the AWS CLI's, against `dms api`: docs/api.md)
USE = re.compile(r"(?<![\w/.-])(?<!aws )dms ((?:[a-z][a-z-]*)(?: [a-z][a-z|-]*)?)((?: [^`\n]*)?)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _uses() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            for m in USE.finditer(line):
                found.append((doc.relative_to(ROOT).as_posix(), m[1], m[2]))
    return found


def _resolve(words: list[str]) -> list[tuple[click.Command, str]]:
    """The commands a use names (several for a|b|c), each with how it was spelt."""
    first, *rest = words
    command = main.commands.get(first)
    if command is None:
        return []
    if not isinstance(command, click.Group) or not rest:
        return [(command, first)]
    return [(command.commands[verb], f"{first} {verb}") if verb in command.commands else (None, f"{first} {verb}")
            for verb in rest[0].split("|")]


USES = _uses()
NOT_COMMANDS = {"on"}  # prose: "dms on PATH"


def test_the_docs_show_commands() -> None:
    assert len(USES) > 50


@pytest.mark.parametrize(("doc", "words", "rest"), USES, ids=[f"{d}:{w}" for d, w, _ in USES])
def test_a_documented_command_exists_with_its_options(doc: str, words: str, rest: str) -> None:
    if words.split()[0] in NOT_COMMANDS:
        return
    resolved = _resolve(words.split())
    assert resolved, f"{doc}: `dms {words}`: no such command"
    for command, spelt in resolved:
        assert command is not None, f"{doc}: `dms {spelt}`: no such command"
        if isinstance(command, click.Group):
            continue  # `dms task` alone: the group
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        # options of this command only: stop at a pipe, a comment or another command on the line
        tail = re.split(r"\s#|\||&&|;|`", rest)[0]
        for option in OPTION.findall(tail):
            assert option in known, f"{doc}: `dms {spelt}` has no option {option} (it has {sorted(known)})"
