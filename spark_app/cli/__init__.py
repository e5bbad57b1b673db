"""The command line: ``python -m spark_app [job options]`` runs the feature job; ``python -m spark_app
<command> ...`` runs a lifecycle command. Every command shares one session set-up and one exit-code map
(``cli/common.py``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from spark_app.core.arguments import closest

#: Command -> (module whose ``main(argv)`` runs it, one-line purpose).
COMMANDS = {
    "pca": ("spark_app.cli.pca", "fit a PCA basis over the store, promote it, back-fill every batch onto it"),
    "classifier": (
        "spark_app.cli.classifier",
        "train a classifier on the store's labelled images, promote it",
    ),
    "sql": ("spark_app.cli.sql", "run SQL over a store's features and errors, locally"),
    "erase": (
        "spark_app.cli.erase",
        "erase everything of one app identity (GDPR Art. 17), print the receipt",
    ),
}


def commands_epilog() -> str:
    """The commands, for the feature job's ``--help``."""
    lines = ["commands (python -m spark_app <command> --help):"]
    lines += [f"  {name:<11} {purpose}" for name, (_, purpose) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command, or the feature job when the first argument is not a command's name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        module, _ = COMMANDS[args[0]]
        return importlib.import_module(module).main(args[1:])
    if args and not args[0].startswith("-"):
        print(
            f"spark_app: error: unknown command '{args[0]}'{closest(args[0], COMMANDS)}; the commands are "
            f"{', '.join(COMMANDS)}, and the feature job takes options only (see spark_app --help)",
            file=sys.stderr,
        )
        return 2
    from spark_app.cli.job import main as job_main

    return job_main(args, epilog=commands_epilog())
