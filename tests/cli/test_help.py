"""Help that teaches: every command lists its subcommands with a purpose, every option has a help text
that gives its default, and the options tables of the docs are the parsers' options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import lambdas.replay.__main__ as replay
import tests.e2e.local_flow as local_flow
from spark_app.cli import COMMANDS, commands_epilog, job
from spark_app.cli import classifier as classifier_cli
from spark_app.cli import pca as pca_cli
from spark_app.cli import sql as sql_cli
from tests.helpers.images import REPO

PARSERS = {
    "spark_app": lambda: job.build_parser(commands_epilog()),
    "spark_app pca": pca_cli.build_parser,
    "spark_app classifier": classifier_cli.build_parser,
    "spark_app sql": sql_cli.build_parser,
    "lambdas.replay": replay.build_parser,
    "tests.e2e.local_flow": local_flow.build_parser,
}


def _actions(parser: argparse.ArgumentParser, name: str):
    """``(command name, action)`` for every argument of a parser and of its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _actions(subparser, f"{name} {sub}")
        elif not isinstance(action, argparse._HelpAction):
            yield name, action


def _required(parser: argparse.ArgumentParser, action: argparse.Action) -> bool:
    groups = [g for g in parser._mutually_exclusive_groups if action in g._group_actions]
    return action.required or any(g.required for g in groups)


@pytest.mark.parametrize("name", PARSERS)
def test_every_option_has_a_help_text_with_its_default(name: str) -> None:
    parser = PARSERS[name]()
    missing = []
    for command, action in _actions(parser, name):
        text = action.help or ""
        optional = action.option_strings and not _required(_parser_of(parser, command, name), action)
        if not text or (optional and "default" not in text):
            missing.append(f"{command} {'/'.join(action.option_strings) or action.dest}: {text!r}")
    assert not missing


def _parser_of(parser: argparse.ArgumentParser, command: str, name: str) -> argparse.ArgumentParser:
    for word in command[len(name) :].split():
        (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = subparsers.choices[word]
    return parser


@pytest.mark.parametrize("name", ["spark_app pca", "spark_app classifier", "lambdas.replay"])
def test_help_lists_each_subcommand_with_a_one_line_purpose(name: str) -> None:
    parser = PARSERS[name]()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    text = parser.format_help()
    for choice in subparsers._choices_actions:
        assert choice.help and "\n" not in choice.help
        assert re.search(rf"^\s+{choice.dest}\s+{re.escape(choice.help[:20])}", text, re.M), choice.dest


def test_the_feature_jobs_help_lists_the_commands_with_their_purpose() -> None:
    text = PARSERS["spark_app"]().format_help()
    for command, (_, purpose) in COMMANDS.items():
        assert re.search(rf"^  {command}\s+{re.escape(purpose)}$", text, re.M)


def _table_options(doc: Path, header: str) -> dict[str, str]:
    """``{option: its row}`` of the Markdown table under ``header`` (``--[no-]x`` gives ``--x``)."""
    lines = doc.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first = line.split(" | ")[0]
        for option in re.findall(r"--(?:\[no-\])?[a-z0-9][a-z0-9-]*", first):
            rows[option.replace("[no-]", "")] = line
    return rows


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        o
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction)
        for o in a.option_strings
        if not o.startswith("--no-")
    }


def test_the_readme_options_table_is_the_jobs_options() -> None:
    table = _table_options(REPO / "README.md", "| option | meaning |")
    assert set(table) == _options(PARSERS["spark_app"]())


def test_the_readme_training_table_names_only_real_options() -> None:
    table = _table_options(REPO / "README.md", "| `classifier train`: corrections")
    train = _parser_of(PARSERS["spark_app classifier"](), "x train", "x")
    assert table and set(table) <= _options(train)


def test_the_local_flow_table_is_its_options_with_their_defaults() -> None:
    table = _table_options(REPO / "docs" / "local-e2e.md", "| option | meaning |")
    parser = PARSERS["tests.e2e.local_flow"]()
    assert set(table) == _options(parser)
    for action in parser._actions:
        documented = re.search(r"\(default (\d+)\)", table.get(action.option_strings[-1], ""))
        if documented and isinstance(action.default, int) and not isinstance(action.default, bool):
            assert int(documented[1]) == action.default, action.option_strings
