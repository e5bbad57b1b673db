"""Regenerate the sample outputs shown in the docs from the commands that print them.

``python -m tests.docs.outputs local-e2e`` runs ``make local-e2e`` and writes its summary into the
```text block under the line that names this command in docs/local-e2e.md; ``demo`` does the same for
``make demo``'s last summary in README.md. ``--from-log FILE`` takes a saved run's output instead.
Outputs are regenerated, never typed: the blocks hold what the last run printed (its ports, ids, times).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: name -> (document, text naming the command just above the block, command, first line of the output kept)
OUTPUTS = {
    "local-e2e": (
        REPO / "docs" / "local-e2e.md",
        "python -m tests.docs.outputs local-e2e",
        ["make", "local-e2e"],
        "== local end-to-end summary",
    ),
    "demo": (REPO / "README.md", "python -m tests.docs.outputs demo", ["make", "demo"], "batch  "),
}


def excerpt(output: str, first: str) -> str:
    """The output from the last line starting with ``first`` to the end."""
    lines = output.rstrip("\n").splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(first))
    return "\n".join(lines[start:])


def replace_block(doc: Path, lead: str, text: str) -> None:
    """Replace the fenced block that follows the paragraph containing ``lead``."""
    source = doc.read_text(encoding="utf-8")
    at = source.index(lead)
    opening = source.index("```", at)
    body = source.index("\n", opening) + 1
    closing = source.index("```", body)
    doc.write_text(source[:body] + text + "\n" + source[closing:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docs.outputs", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=OUTPUTS, help="which output to regenerate")
    parser.add_argument("--from-log", type=Path, help="a saved run's output (default: run the command)")
    args = parser.parse_args(argv)
    doc, lead, command, first = OUTPUTS[args.name]
    if args.from_log:
        output = args.from_log.read_text(encoding="utf-8")
    else:
        output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    replace_block(doc, lead, excerpt(output, first))
    print(f"{doc.relative_to(REPO)}: the {args.name} output regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
