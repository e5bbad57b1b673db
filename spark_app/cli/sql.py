"""``python -m spark_app sql --store DIR "SELECT ..."``: SQL over a store's features and errors, locally."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from spark_app.cli.common import (
    EXIT_OK,
    OneLineParser,
    UserError,
    add_runtime_options,
    add_store_option,
    check_store,
    run_command,
    spark_session,
)
from spark_app.store.queries import EXAMPLES

PROG = "spark_app sql"


class QueryError(UserError):
    """A query Spark refused (syntax, unknown column...): the message is Spark's first line."""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Run SQL over the views 'features' and 'errors' of a store "
        "(every batch; batch_id is a column).",
    )
    add_store_option(parser)
    add_runtime_options(parser)
    parser.add_argument(
        "query", nargs="?", default=EXAMPLES["images per label"], help="the SQL (default: images per label)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_store(parser, args.store)
    return run_command(PROG, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from pyspark.errors import PySparkException

    from spark_app.store.queries import run_query

    with spark_session("fruits-sql", args) as spark:
        try:
            result = run_query(spark, args.store, args.query)
        except PySparkException as exc:
            raise QueryError(f"the query failed: {str(exc).strip().splitlines()[0]}") from None
    print(result.to_string(index=False))
    return EXIT_OK
