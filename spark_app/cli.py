"""Command line: ``python -m spark_app`` or ``spark-submit spark_app/__main__.py``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spark_app import storage
from spark_app.backends import BACKENDS, LITERT
from spark_app.catalog import CatalogError
from spark_app.classifier import DEFAULT_CONFIDENCE_THRESHOLD, ClassifierError
from spark_app.decode import DEFAULT_MAX_PIXELS
from spark_app.features import DEFAULT_BATCH_SIZE, DEFAULT_MAX_FILE_BYTES, DEFAULT_READ_THREADS
from spark_app.inputs import InputError
from spark_app.model_payload import FP32, PRECISIONS
from spark_app.pca import LATEST, NATIVE, SOLVERS, PcaError
from spark_app.pca_store import DEFAULT_MIN_IMAGES
from spark_app.pipeline import (
    DEFAULT_FILES_PER_PARTITION,
    DEFAULT_PCA_VARIANCE,
    RunConfig,
    RunSummary,
    execute,
    prepare,
)
from spark_app.subcommands import configure_logging, positive_int
from spark_app.weights import DEFAULT_WEIGHTS, WeightsError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _variance(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The CLI's arguments."""
    parser = argparse.ArgumentParser(
        prog="spark_app",
        description="Extract MobileNetV2 features from images, reduce them with PCA, write Parquet.",
        epilog="Outputs: <output>/features/batch_id=<id>/ (one row per image), "
        "<output>/errors/batch_id=<id>/ (one row per failed input), <output>/runs/<id>.json (summary).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="folder or s3://bucket/prefix to read recursively")
    source.add_argument("--manifest", help="manifest (JSON Lines of {'uri', 'label'}) listing the objects")
    parser.add_argument("--output", required=True, help="output folder or s3:// prefix")
    parser.add_argument(
        "--batch-id", help="partition name; re-running a batch replaces it (default: derived)"
    )
    parser.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        help="MobileNetV2 .weights.h5: path, s3:// URI or 'imagenet' (default: pinned file)",
    )
    parser.add_argument("--weights-sha256", help="expected sha256 of --weights ('skip' to accept any)")
    parser.add_argument("--backend", choices=BACKENDS, default=LITERT, help="inference backend")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=FP32,
        help="model precision: fp32 (default) or int8 (LiteRT model calibrated on the sample; docs/int8.md)",
    )
    parser.add_argument(
        "--threads-per-worker",
        type=positive_int,
        default=1,
        help="inference threads per Python worker (default 1: one worker per core)",
    )
    k_or_variance = parser.add_mutually_exclusive_group()
    k_or_variance.add_argument("--pca-k", type=positive_int, help="number of PCA components")
    k_or_variance.add_argument(
        "--pca-variance",
        type=_variance,
        help=f"smallest k reaching this explained variance (default {DEFAULT_PCA_VARIANCE})",
    )
    parser.add_argument(
        "--pca-model",
        help=f"project on a saved PCA version (URI) instead of fitting; '{LATEST}' = the promoted one in "
        "--pca-model-dir (none promoted yet: rows get no pca; a batch never fits then)",
    )
    parser.add_argument(
        "--pca-min-images",
        type=positive_int,
        default=DEFAULT_MIN_IMAGES,
        help=f"fit on this run's images only with at least this many (default {DEFAULT_MIN_IMAGES}), "
        "and 4 per component",
    )
    parser.add_argument(
        "--pca-fit-any-size",
        action="store_true",
        help="fit on this run's images whatever their number (one-off folder runs, the demo)",
    )
    parser.add_argument(
        "--pca-model-dir", help="where fitted PCA versions are saved (default <output>/pca_models)"
    )
    parser.add_argument(
        "--pca-solver",
        choices=SOLVERS,
        default=NATIVE,
        help="native: distributed X^T X + LAPACK eigh (default, fast); spark: pyspark.ml PCA.fit's solver",
    )
    parser.add_argument(
        "--glue-database",
        help="register the batch's partitions in this Glue database's features/errors tables",
    )
    parser.add_argument(
        "--classifier",
        help=f"predict the fruit with this classifier version (URI) or '{LATEST}' (the promoted one in "
        "--classifier-dir; none yet: no prediction)",
    )
    parser.add_argument("--classifier-dir", help="where classifier versions are saved and promoted")
    parser.add_argument(
        "--confidence-threshold",
        type=_variance,
        default=DEFAULT_CONFIDENCE_THRESHOLD,
        help=f"below this the answer is 'unknown' (default {DEFAULT_CONFIDENCE_THRESHOLD})",
    )
    parser.add_argument("--answers", help="write one JSON answer per input under this folder or s3:// prefix")
    parser.add_argument("--master", help="Spark master (default: local[*] unless set by spark-submit)")
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (e.g. an emulator); default AWS")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="images decoded and inferred together per worker",
    )
    parser.add_argument("--files-per-partition", type=positive_int, default=DEFAULT_FILES_PER_PARTITION)
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help="reject images with more pixels (decompression-bomb guard)",
    )
    parser.add_argument("--max-file-bytes", type=positive_int, default=DEFAULT_MAX_FILE_BYTES)
    parser.add_argument(
        "--read-threads",
        type=positive_int,
        default=DEFAULT_READ_THREADS,
        help="concurrent object reads per Python worker (hides S3 latency)",
    )
    parser.add_argument("--report", dest="report_dir", help="also write PNG plots (variance, 2-D PCA) here")
    return parser


def _check_local_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fail fast, before Spark starts, on local paths that do not exist."""
    if args.input and not storage.is_s3_uri(args.input) and not storage.local_path(args.input).is_dir():
        parser.error(f"--input folder not found: {args.input}")
    if (
        args.manifest
        and not storage.is_s3_uri(args.manifest)
        and not storage.local_path(args.manifest).is_file()
    ):
        parser.error(f"--manifest file not found: {args.manifest}")
    if (
        args.weights != "imagenet"
        and not storage.is_s3_uri(args.weights)
        and not os.path.isfile(args.weights)
    ):
        parser.error(f"--weights file not found: {args.weights}")


def format_summary(summary: RunSummary) -> str:
    """Human-readable end-of-run summary."""
    lines = [
        f"batch          {summary.batch_id}",
        f"inputs         {summary.inputs}",
        f"images         {summary.images}",
        f"errors         {summary.errors}"
        + (
            f"  ({', '.join(f'{k}: {v}' for k, v in summary.errors_by_stage.items())})"
            if summary.errors
            else ""
        ),
        f"throughput     {summary.files_per_second:.1f} files/s ({summary.seconds:.1f} s in all)",
        f"model          {summary.model_version} (built {summary.model_builds}x on workers)",
    ]
    if summary.pca_version:
        how = f"fitted in {summary.pca_fit_seconds:.1f} s" if summary.pca_fitted else "reused"
        lines.append(
            f"PCA            {summary.pca_version}: k={summary.pca_k}, "
            f"explained variance {summary.explained_variance:.4f} ({how})"
        )
    else:
        lines.append(f"PCA            none ({summary.pca_note or 'not fitted'})")
    if summary.classifier_version:
        lines.append(
            f"classifier     {summary.classifier_version}: {summary.images} predicted, "
            f"{summary.unknown_predictions} unknown"
        )
    if summary.answers_written:
        lines.append(f"answers        {summary.answers_written} written")
    lines += [f"features       {summary.features_path}", f"errors         {summary.errors_path}"]
    if summary.pca_model_path:
        lines.append(f"PCA model      {summary.pca_model_path}")
    lines += [f"report         {path}" for path in summary.report_files]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, print the summary; user mistakes exit 2 with one clear line."""
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_local_paths(parser, args)
    if args.s3_endpoint_url:
        os.environ[storage.ENDPOINT_ENV] = args.s3_endpoint_url
    options = {k: v for k, v in vars(args).items() if k != "s3_endpoint_url"}
    try:
        config = RunConfig(**options)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        prepared = prepare(config)
    except (InputError, WeightsError) as exc:
        print(f"spark_app: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from spark_app.session import build_session, ship_package

    spark = build_session("fruits-features", master=config.master, arrow_batch_rows=config.batch_size)
    ship_package(spark)
    try:
        summary = execute(prepared, spark)
    except (PcaError, CatalogError, ClassifierError) as exc:
        print(f"spark_app: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        spark.stop()
    print(format_summary(summary), flush=True)
    return EXIT_OK
