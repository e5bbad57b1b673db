"""``python -m spark_app pca fit|promote|backfill``: the PCA basis lifecycle of a feature store.

- ``fit``: fit a basis over every batch of the store and save it as a new version (not promoted);
- ``promote``: point LATEST at a version (``newest`` by default), atomically;
- ``backfill``: rewrite the ``pca`` column of every batch not on the promoted version.

Each prints one JSON document (what it did) on stdout; user mistakes exit 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from spark_app import storage
from spark_app.pca import NATIVE, SOLVERS, PcaError
from spark_app.pca_store import DEFAULT_MIN_IMAGES
from spark_app.registry import promote
from spark_app.subcommands import (
    add_promote_command,
    configure_logging,
    positive_int,
    promotion_json,
    spark_session,
    subcommand_parser,
    use_endpoint,
)

EXIT_OK, EXIT_USAGE = 0, 2


def build_parser() -> argparse.ArgumentParser:
    parser, commands, common = subcommand_parser("spark_app pca", __doc__.splitlines()[0])

    fit = commands.add_parser("fit", parents=[common], help="fit a basis over the whole store (not promoted)")
    fit.add_argument("--store", required=True, help="feature store root (the job's --output)")
    fit.add_argument("--pca-model-dir", required=True, help="where PCA versions are saved")
    size = fit.add_mutually_exclusive_group()
    size.add_argument("--pca-k", type=positive_int)
    size.add_argument("--pca-variance", type=float)
    fit.add_argument("--min-images", type=positive_int, default=DEFAULT_MIN_IMAGES)
    fit.add_argument(
        "--sample-cap", type=positive_int, help="fit on at most this many images (deterministic)"
    )
    fit.add_argument("--pca-solver", choices=SOLVERS, default=NATIVE)
    fit.add_argument("--promote", action="store_true", help="also promote the new version")

    add_promote_command(commands, common, "--pca-model-dir")

    back = commands.add_parser(
        "backfill", parents=[common], help="project every batch not on the promoted basis"
    )
    back.add_argument("--store", required=True)
    back.add_argument("--pca-model-dir", required=True)
    back.add_argument("--glue-database", help="accepted for symmetry with the job (partitions are unchanged)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    use_endpoint(args)
    try:
        if args.command == "promote":
            done = promote(args.pca_model_dir, args.version, force=args.force)
            print(promotion_json(done))
            return EXIT_OK
        return _with_spark(args)
    except (PcaError, storage.StorageError) as exc:
        print(f"spark_app pca: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _with_spark(args: argparse.Namespace) -> int:
    from spark_app.pca_store import backfill, fit_over_store

    with spark_session("fruits-pca", args.master, arrow_batch_rows=256) as spark:
        if args.command == "fit":
            fitted = fit_over_store(
                spark,
                args.store,
                args.pca_model_dir,
                k=args.pca_k,
                variance=args.pca_variance,
                min_images=args.min_images,
                sample_cap=args.sample_cap,
                solver=args.pca_solver,
            )
            out = {
                "fitted": fitted.result.version,
                "k": fitted.result.k,
                "uri": fitted.uri,
                **fitted.fitted_on,
            }
            if args.promote:
                out["promoted"] = promote(args.pca_model_dir, fitted.result.version).current
        else:
            report = backfill(spark, args.store, args.pca_model_dir)
            out = {
                "version": report.version,
                "k": report.k,
                "rewritten": report.rewritten,
                "skipped": report.skipped,
            }
    print(json.dumps(out, sort_keys=True))
    return EXIT_OK
