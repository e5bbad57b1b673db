"""What the ``pca`` and ``classifier`` subcommands share: common options, a session, promotion output."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spark_app import storage
from spark_app.registry import NEWEST, Promotion


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def common_options() -> argparse.ArgumentParser:
    """``--s3-endpoint-url`` and ``--master``, for every subcommand (``parents=[...]``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (e.g. an emulator); default AWS")
    common.add_argument("--master", help="Spark master (default: local[*] unless set by spark-submit)")
    return common


def subcommand_parser(prog: str, description: str) -> tuple[argparse.ArgumentParser, Any, Any]:
    """(parser, its subcommands, the common options to pass as ``parents``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    return parser, parser.add_subparsers(dest="command", required=True), common_options()


def add_promote_command(commands: Any, common: argparse.ArgumentParser, dir_option: str) -> None:
    """``promote --<dir_option> DIR [--version V] [--force]``: move LATEST atomically."""
    promote = commands.add_parser("promote", parents=[common], help="point LATEST at a version atomically")
    promote.add_argument(dir_option, required=True)
    promote.add_argument("--version", default=NEWEST, help=f"version name or '{NEWEST}' (default)")
    promote.add_argument(
        "--force", action="store_true", help="allow promoting a version older than the current"
    )


def use_endpoint(args: argparse.Namespace) -> None:
    """Send boto3 (driver and workers) to ``--s3-endpoint-url`` when given."""
    if args.s3_endpoint_url:
        os.environ[storage.ENDPOINT_ENV] = args.s3_endpoint_url


@contextmanager
def spark_session(app_name: str, master: str | None, arrow_batch_rows: int) -> Iterator[Any]:
    """A session with the package shipped; stopped at the end unless one was already running."""
    from pyspark.sql import SparkSession

    from spark_app.session import build_session, ship_package

    already_running = SparkSession.getActiveSession() is not None  # e.g. called from a notebook or test
    spark = build_session(app_name, master=master, arrow_batch_rows=arrow_batch_rows)
    ship_package(spark)
    try:
        yield spark
    finally:
        if not already_running:
            spark.stop()


def promotion_json(done: Promotion) -> str:
    """What ``promote`` prints."""
    return json.dumps({"promoted": done.current, "previous": done.previous, "changed": done.changed})


def configure_logging() -> None:
    """The job's progress lines (``[fruits] ...``) on standard output, once per process.

    The logger still propagates, so handlers set up by a host (pytest's caplog, a notebook) see it too.
    """
    logger = logging.getLogger("fruits")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[fruits] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
