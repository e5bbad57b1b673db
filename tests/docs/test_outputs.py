"""The sample outputs in the docs are what the code prints: each line's label is one the code writes,
and every block is under the line naming its regeneration command (tests/docs/outputs.py)."""

from __future__ import annotations

import pytest

from tests.docs.outputs import OUTPUTS, REPO, excerpt

#: The modules that print each output.
PRINTED_BY = {
    "local-e2e": ["tests/e2e/local_flow.py", "tests/e2e/answer_flow.py", "tests/e2e/app_flow.py"],
    "demo": ["spark_app/job/summary.py"],
}


def _block(name: str) -> str:
    doc, lead, _, _ = OUTPUTS[name]
    source = doc.read_text(encoding="utf-8")
    at = source.index(lead)
    body = source.index("\n", source.index("```text", at)) + 1
    return source[body : source.index("```", body)]


@pytest.mark.parametrize("name", OUTPUTS)
def test_each_line_of_a_documented_output_is_one_the_code_prints(name: str) -> None:
    code = "".join((REPO / path).read_text() for path in PRINTED_BY[name])
    labels = [line[:15] for line in _block(name).splitlines() if line and not line.startswith(" ")]
    assert labels
    unknown = [
        label for label in labels if label.rstrip() not in code or (label.endswith(" ") and label not in code)
    ]
    assert not unknown


def test_the_excerpt_starts_at_the_last_summary() -> None:
    output = "batch          a\nimages         1\n[fruits] x\nbatch          b\nimages         2\n"
    assert excerpt(output, "batch  ") == "batch          b\nimages         2"
