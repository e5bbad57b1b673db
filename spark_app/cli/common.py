"""What every command shares: argument types, the runtime options, one Spark session set-up, and one
map from errors to exit codes (a user's mistake is one line on stderr and exit 2, never a traceback)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from spark_app.core.arguments import OneLineParser, positive_int
from spark_app.core.heads import ModelMismatch
from spark_app.core.model import ModelError
from spark_app.core.uris import is_s3_uri, local_path
from spark_app.job.inputs import InputError
from spark_app.models.registry import RegistryError
from spark_app.store.catalog import CatalogError
from spark_app.store.objects import DEFAULT_REGION_ENV, ENDPOINT_ENV, REGION_ENV, StorageError, use_region

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
__all__ = ["OneLineParser", "positive_int"]  # re-exported: every command's parser and its integer type


class UserError(ValueError):
    """A mistake a command reports in one line (e.g. a query Spark refused)."""


#: Errors a person can fix (an input, a model, a registry, the catalog, an object): exit 2, one line.
USER_ERRORS: tuple[type[Exception], ...] = (
    UserError,
    InputError,
    ModelError,
    ModelMismatch,
    RegistryError,
    CatalogError,
    StorageError,
)


def fraction(text: str) -> float:
    """argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def check_store(parser: argparse.ArgumentParser, store: str) -> None:
    """Fail before Spark starts on a local store that is missing or has no features yet."""
    if is_s3_uri(store):
        return
    if not local_path(store).is_dir():
        parser.error(f"--store folder not found: {store}")
    if not (local_path(store) / "features").is_dir():
        parser.error(f"--store {store} has no features/ yet: run the feature job with --output {store} first")


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store``: the feature store a lifecycle command reads (the job's ``--output``)."""
    parser.add_argument("--store", required=True, help="the feature store (the job's --output)")


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """``--s3-endpoint-url`` and ``--region``, which every command that reaches AWS takes."""
    parser.add_argument(
        "--s3-endpoint-url", help="S3-compatible endpoint, e.g. an emulator's URL (default: AWS itself)"
    )
    parser.add_argument(
        "--region",
        help=f"AWS region of every client of the job, driver and workers (default: {REGION_ENV}, "
        f"else {DEFAULT_REGION_ENV}); the stack passes it",
    )


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """The AWS options and ``--master``, which every command that runs Spark or S3 takes."""
    add_aws_options(parser)
    parser.add_argument(
        "--master", help="Spark master (default: local[*], unless spark-submit or EMR Serverless set one)"
    )


def use_aws_options(args: argparse.Namespace) -> None:
    """Send boto3 (driver and workers) to ``--s3-endpoint-url`` and ``--region`` when given."""
    if getattr(args, "s3_endpoint_url", None):
        os.environ[ENDPOINT_ENV] = args.s3_endpoint_url
    if getattr(args, "region", None):
        use_region(args.region)


@contextmanager
def spark_session(app_name: str, args: argparse.Namespace, *, arrow_batch_rows: int = 1024) -> Iterator[Any]:
    """The one session set-up of every command: endpoint, master, the package shipped to the workers;
    stopped at the end unless one was already running (a notebook, a test)."""
    from pyspark.sql import SparkSession

    from spark_app.job.session import build_session, ship_package

    use_aws_options(args)
    already_running = SparkSession.getActiveSession() is not None
    spark = build_session(app_name, master=getattr(args, "master", None), arrow_batch_rows=arrow_batch_rows)
    ship_package(spark)
    try:
        yield spark
    finally:
        if not already_running:
            spark.stop()


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run a command's body; a user's mistake becomes ``<prog>: error: <one line>`` and exit 2."""
    configure_logging()
    try:
        return body()
    except USER_ERRORS as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (or its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of each record (a host may swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging() -> None:
    """The job's progress lines (``[fruits] ...``) on standard output, once per process.

    The logger still propagates, so handlers set up by a host (pytest's caplog, a notebook) see it too.
    """
    logger = logging.getLogger("fruits")
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("[fruits] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
