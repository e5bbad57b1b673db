"""The documented commands run as shown: every shell and Python block of README.md and docs/*.md, on
the bundled sample (the rules for the blocks that cannot run here: ``tests/docs/blocks.py``)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from spark_app.cli import COMMANDS, job
from tests.docs.blocks import MAPPED, REPO, RUN, SYNTAX, Block, all_blocks, commands

BLOCKS = all_blocks()
SPARK_APP = ".venv/bin/python -m spark_app "
#: The store ``make demo`` leaves: the docs' commands read and write it.
DEMO = "out/demo"


def _param(block: Block):
    needs_store = DEMO in block.source
    marks = [pytest.mark.spark] if needs_store else []
    return pytest.param(block, id=block.id, marks=marks)


def test_the_docs_have_blocks_of_each_kind() -> None:
    kinds = {block.kind for block in BLOCKS}
    assert kinds == {RUN, SYNTAX, MAPPED}
    assert len(BLOCKS) >= 25


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind != RUN], ids=lambda b: b.id)
def test_a_block_that_cannot_run_here_is_valid_and_says_why(block: Block) -> None:
    _check_syntax(block)
    for argv in _spark_app_commands(block):
        _parse(argv)  # a misspelled option or a bad value fails here
    if block.kind == MAPPED:
        assert block.mapped_tests, f"{block.id}: '**Runs in CI as**' names no test"
        for reference in block.mapped_tests:
            path, _, name = reference.partition("::")
            assert (REPO / path).is_file(), f"{block.id}: {path} does not exist"
            if name:
                assert re.search(rf"^def {name}\(", (REPO / path).read_text(), re.M), (
                    f"{block.id}: {reference}"
                )


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS if b.kind == RUN])
def test_a_documented_block_runs_as_shown(block: Block, request, tmp_path: Path, monkeypatch, capsys) -> None:
    sandbox = _sandbox(tmp_path)
    if DEMO in block.source:
        request.getfixturevalue("spark")
        shutil.copytree(request.getfixturevalue("sample_store")[0], sandbox / DEMO)
    monkeypatch.chdir(sandbox)
    if block.language == "python":
        exec(compile(block.source, block.id, "exec"), {"__name__": "__docs__"})
        return
    for command in commands(block.source):
        if command.startswith(SPARK_APP):  # the same argv through the same main(), in this process:
            from spark_app.cli import main  # the session's Spark is reused instead of a JVM per line

            try:
                code = main([_in(sandbox, word) for word in shlex.split(command[len(SPARK_APP) :])])
            except SystemExit as exc:  # --help
                code = exc.code
            assert code in (0, None), f"{command}: {capsys.readouterr().err}"
            capsys.readouterr()
        else:
            proc = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=300, check=False
            )
            assert proc.returncode == 0, f"{command}: {proc.stderr[-2000:]}"


def test_the_demos_commands_parse() -> None:
    """``make demo``'s commands, as the Makefile runs them, are accepted by the real parsers."""
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile[makefile.index("\ndemo:") :].split("\n\n")[0]
    lines = [line.strip() for line in recipe.splitlines() if "-m spark_app" in line]
    assert len(lines) == 5
    for line in lines:
        line = line.replace("$(PY)", ".venv/bin/python").replace("$(DEMO)", DEMO)
        _parse(shlex.split(line.split("-m spark_app", 1)[1]))


def _in(sandbox: Path, word: str) -> str:
    """``out/...`` inside the sandbox: Spark's JVM keeps the test run's working directory, not ours."""
    return str(sandbox / word) if word.startswith("out/") else word


def _sandbox(tmp_path: Path) -> Path:
    """A folder that looks like the clone (its files linked) with its own ``out/``."""
    sandbox = tmp_path / "clone"
    sandbox.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in ("out", "cdk.out", ".git"):
            (sandbox / entry.name).symlink_to(entry)
    (sandbox / "out").mkdir()
    return sandbox


def _check_syntax(block: Block) -> None:
    if block.language == "python":
        compile(block.source, block.id, "exec")
        return
    source = re.sub(r"<([A-Za-z][\w.-]*)>", r"\1", block.source)  # placeholders: <ACCOUNT_ID>
    proc = subprocess.run(["bash", "-n"], input=source, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{block.id}: {proc.stderr}"


def _spark_app_commands(block: Block) -> list[list[str]]:
    if block.language != "bash":
        return []
    found = []
    for command in commands(block.source):
        words = shlex.split(command)
        for i, word in enumerate(words):
            if (word == "spark_app" and words[i - 1] == "-m") or word.endswith("spark_app/__main__.py"):
                found.append(words[i + 1 :])
                break
    return found


def _parse(argv: list[str]) -> None:
    """Parse a ``spark_app`` command line with the parser that will read it (exits 2 if refused)."""
    import importlib

    if argv and argv[0] in COMMANDS:
        importlib.import_module(COMMANDS[argv[0]][0]).build_parser().parse_args(argv[1:])
    else:
        job.build_parser().parse_args(argv)
