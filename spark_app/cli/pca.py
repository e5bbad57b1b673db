"""``python -m spark_app pca fit|promote|backfill``: the PCA basis lifecycle of a feature store.

- ``fit``: fit a basis over every batch of the store and save it as a new version (not promoted);
- ``promote``: point LATEST at a version (``newest`` by default), atomically;
- ``backfill``: rewrite the ``pca`` column of every batch not on the promoted version.

Each prints one JSON document (what it did) on stdout; a user's mistake exits 2 with one line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from spark_app.cli.common import (
    EXIT_OK,
    OneLineParser,
    add_runtime_options,
    add_store_option,
    check_store,
    fraction,
    positive_int,
    run_command,
    spark_session,
    use_aws_options,
)
from spark_app.cli.registry_commands import add_promote_command, run_promote
from spark_app.core.defaults import PCA_MIN_IMAGES, PCA_VARIANCE
from spark_app.models.pca import NATIVE, SOLVERS
from spark_app.models.registry import promote

PROG = "spark_app pca"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{fit,promote,backfill}")

    fit = commands.add_parser(
        "fit",
        help="fit a basis over the whole store (saved, not promoted)",
        description="Fit a basis over the store.",
    )
    add_store_option(fit)
    fit.add_argument("--pca-model-dir", required=True, help="the PCA registry where the version is saved")
    size = fit.add_mutually_exclusive_group()
    size.add_argument(
        "--pca-k", type=positive_int, help="number of components (default: chosen by --pca-variance)"
    )
    size.add_argument(
        "--pca-variance",
        type=fraction,
        help=f"smallest k reaching this explained variance (default {PCA_VARIANCE})",
    )
    fit.add_argument(
        "--min-images",
        type=positive_int,
        default=PCA_MIN_IMAGES,
        help=f"refuse to fit on fewer distinct images (default {PCA_MIN_IMAGES:,}; also 4 per component)",
    )
    fit.add_argument("--sample-cap", type=positive_int, help="fit on at most this many images (default: all)")
    fit.add_argument(
        "--pca-solver",
        choices=SOLVERS,
        default=NATIVE,
        help=f"{NATIVE}: distributed X^T X + LAPACK eigh (default); spark: pyspark.ml PCA.fit, "
        "checked against the native sums",
    )
    fit.add_argument("--promote", action="store_true", help="also promote the new version (default off)")
    fit.add_argument(
        "--report",
        help="also write the variance curve and a 2-D scatter (PNG) to this folder (default: none)",
    )
    add_runtime_options(fit)

    add_promote_command(commands, "--pca-model-dir")

    back = commands.add_parser(
        "backfill", help="project every batch not on the promoted basis", description="Back-fill the store."
    )
    add_store_option(back)
    back.add_argument("--pca-model-dir", required=True, help="the PCA registry holding the promoted basis")
    add_runtime_options(back)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("fit", "backfill"):
        check_store(parser, args.store)
    return run_command(PROG, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    use_aws_options(args)
    if args.command == "promote":
        return run_promote(args.pca_model_dir, args)
    from spark_app.models.pca import backfill, fit_over_store

    with spark_session("fruits-pca", args, arrow_batch_rows=256) as spark:
        if args.command == "fit":
            out = _fit(spark, args, fit_over_store)
        else:
            report = backfill(spark, args.store, args.pca_model_dir)
            out = {
                "version": report.version,
                "k": report.k,
                "rewritten": report.rewritten,
                "skipped": report.skipped,
                "other_model": report.other_model,
            }
    print(json.dumps(out, sort_keys=True))
    return EXIT_OK


def _fit(spark, args: argparse.Namespace, fit_over_store) -> dict:
    fitted = fit_over_store(
        spark,
        args.store,
        args.pca_model_dir,
        k=args.pca_k,
        variance=args.pca_variance,
        min_images=args.min_images,
        sample_cap=args.sample_cap,
        solver=args.pca_solver,
        keep_sample=2000 if args.report else 0,
    )
    info = fitted.version.info
    out = {
        "fitted": fitted.basis.version,
        "k": fitted.basis.k,
        "explained_variance": round(info["cumulative_explained_variance"], 4),
        "uri": fitted.uri,
        **info["fitted_on"],
    }
    if args.promote:
        out["promoted"] = promote(args.pca_model_dir, fitted.basis.version).current
    if args.report:
        from spark_app.models.report import write_report

        out["report"] = write_report(
            args.report,
            version=fitted.basis.version,
            k=fitted.basis.k,
            spectrum=fitted.spectrum.ratios,
            labels=fitted.sample_labels,
            xy=fitted.sample_xy,
        )
    return out
