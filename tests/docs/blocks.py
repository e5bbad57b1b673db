"""The shell and Python blocks of README.md and docs/*.md (found with Sybil's Markdown lexer), and what
the line just above each one says about running it.

A block runs in the test suite unless the visible paragraph just above its fence starts with:

- ``**Needs AWS**`` or ``**Needs Docker**``: it is only syntax-checked (``bash -n``, ``compile``); so is
  a block under ``**Not run by the tests**`` (a measurement that takes minutes; the line says why);
- ``**Runs in CI as**`` followed by code spans naming tests (``tests/x.py::test_y``, a file, or
  ``.ci/run``): too slow for the suite as written (a whole demo, the local flow, the suite itself); it is
  syntax-checked, every ``spark_app`` command in it is parsed by the real parser, and each named test
  must exist: that test runs the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sybil import Document
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
NEEDS = re.compile(r"^\*\*(Needs AWS|Needs Docker|Not run by the tests)\*\*")
RUNS_IN_CI = re.compile(r"^\*\*Runs in CI as\*\*")
RUN, SYNTAX, MAPPED = "run", "syntax only", "runs in CI"


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its source and how the suite treats it."""

    doc: Path
    line: int
    language: str
    source: str
    marker: str

    @property
    def kind(self) -> str:
        if NEEDS.match(self.marker):
            return SYNTAX
        return MAPPED if RUNS_IN_CI.match(self.marker) else RUN

    @property
    def mapped_tests(self) -> list[str]:
        """The tests a ``**Runs in CI as**`` line names (its code spans)."""
        spans = re.findall(r"`([^`]+)`", self.marker) if self.kind == MAPPED else []
        return [span for span in spans if span.startswith(("tests/", ".ci/"))]

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks(doc: Path) -> list[Block]:
    """The shell and Python blocks of one document, in order."""
    document = Document(doc.read_text(encoding="utf-8"), str(doc))
    lexer = FencedCodeBlockLexer(language=r".+", mapping={"language": "arguments", "source": "source"})
    found = []
    for region in lexer(document):
        language = LANGUAGES.get(str(region.lexemes["arguments"]).strip())
        if language is None:
            continue
        marker = _paragraph_above(document.text[: region.start])
        line = document.text[: region.start].count("\n") + 1
        found.append(Block(doc, line, language, str(region.lexemes["source"]), marker.strip()))
    return found


def all_blocks() -> list[Block]:
    return [block for doc in documents() for block in blocks(doc)]


def _paragraph_above(text: str) -> str:
    """The paragraph just above a fence, joined in one line (its first line holds the marker)."""
    lines = text.rstrip("\n").splitlines()
    paragraph: list[str] = []
    for line in reversed(lines):
        if not line.strip():
            break
        paragraph.insert(0, line.strip())
    return " ".join(paragraph)


def commands(source: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", source)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#\s.*$", "", line).strip()
        if line:
            out.append(line)
    return out
