"""The ``promote`` subcommand both registries have (PCA bases and classifiers)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from spark_app.cli.common import add_aws_options
from spark_app.models.registry import NEWEST, Promotion, promote


def add_promote_command(commands: Any, dir_option: str) -> argparse.ArgumentParser:
    """``promote --<dir_option> DIR [--version V] [--force]``: move LATEST atomically."""
    parser = commands.add_parser(
        "promote",
        help="point LATEST at a version, atomically",
        description="Point LATEST at a version, atomically.",
    )
    parser.add_argument(dir_option, required=True, help="the registry folder or s3:// prefix")
    parser.add_argument(
        "--version", default=NEWEST, help=f"version name, or '{NEWEST}' (default: the last fitted)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="allow promoting a version fitted before the promoted one (default off)",
    )
    add_aws_options(parser)
    return parser


def run_promote(model_dir: str, args: argparse.Namespace) -> int:
    """Promote and print what changed as one JSON line."""
    done: Promotion = promote(model_dir, args.version, force=args.force)
    print(json.dumps({"promoted": done.current, "previous": done.previous, "changed": done.changed}))
    return 0
