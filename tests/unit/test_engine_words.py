"""No engine word outside connectors/<engine>/ and the docs (issue 14): generic code speaks of logs,
positions, capture and bulk loads, and each engine supplies its own words (Source methods, Retained).

Every identifier, string and comment of scheduler/, worker/, connectors/*.py and connectors/model/ is
split into words (snake_case and CamelCase too, so ``SlotRetainedWalBytes`` is four words) and checked
case-insensitively against the engines' vocabulary.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_WORDS = {"lsn", "slot", "pgoutput", "wal", "binlog", "gtid", "oplog", "copy"}
PLURALS = {"lsns": "lsn", "slots": "slot", "binlogs": "binlog", "gtids": "gtid", "oplogs": "oplog", "copies": "copy"}

# Python's own names, which only look like engine words; each is allowed as a whole identifier only,
# never in prose (comments and strings):
PYTHON_NAMES = {
    "slots",  # @dataclass(slots=True)
    "__slots__",  # the class attribute
    "copy",  # dict.copy(), list.copy(), set.copy(): a shallow copy of a Python object
    "copy_context",  # contextvars.copy_context(), to run a thread in the caller's context
}


def generic_files() -> list[Path]:
    files = [*sorted((ROOT / "scheduler").rglob("*.py")), *sorted((ROOT / "worker").rglob("*.py")),
             *sorted((ROOT / "connectors").glob("*.py")), *sorted((ROOT / "connectors" / "model").rglob("*.py"))]
    assert len(files) > 30, "the generic code was not found"
    return files


def words(text: str) -> list[str]:
    """``SlotRetainedWalBytes`` -> slot retained wal bytes; ``slot_position`` -> slot position."""
    found = []
    for part in re.findall(r"[A-Za-z0-9]+", text):
        found += re.findall(r"[A-Z]+(?=[A-Z][a-z]{2,})|[A-Z]?[a-z]+|[A-Z]+s?|\d+", part)
    return [w.lower() for w in found]


def engine_words(text: str) -> list[str]:
    return [PLURALS.get(w, w) for w in words(text) if PLURALS.get(w, w) in ENGINE_WORDS]


def offences(path: Path) -> list[str]:
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.NAME and tok.string in PYTHON_NAMES:
            continue
        if tok.type in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
            hits = engine_words(tok.string)
            if hits:
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {', '.join(sorted(set(hits)))}: "
                             f"{tok.string[:80]!r}")
    return found


def test_the_splitter_sees_engine_words_inside_identifiers() -> None:
    assert engine_words("SlotRetainedWalBytes") == ["slot", "wal"]
    assert engine_words("slot_position resume_position") == ["slot"]
    assert engine_words("the binary COPY of two LSNs") == ["copy", "lsn"]
    assert engine_words("walk the wall; a HistoryTimeslotInMinutes; copied") == []


def test_no_engine_word_in_generic_code() -> None:
    found = [line for path in generic_files() for line in offences(path)]
    assert not found, "engine words outside connectors/<engine>/ (move them to the connector):\n" + "\n".join(found)
