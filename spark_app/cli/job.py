"""``python -m spark_app --input DIR|s3://... --output DIR|s3://...``: the feature job for one batch."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from spark_app.cli.common import (
    EXIT_OK,
    OneLineParser,
    add_runtime_options,
    fraction,
    positive_int,
    run_command,
    spark_session,
    use_aws_options,
)
from spark_app.core.defaults import (
    BATCH_SIZE,
    CONFIDENCE_THRESHOLD,
    FILES_PER_PARTITION,
    LATEST,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    READ_THREADS,
)
from spark_app.core.model import BACKENDS, FP32, LITERT, PRECISIONS
from spark_app.core.uris import is_s3_uri, local_path
from spark_app.job.config import RunConfig
from spark_app.job.summary import format_summary
from spark_app.models.weights import DEFAULT_WEIGHTS, IMAGENET

PROG = "spark_app"


def build_parser(epilog: str = "") -> argparse.ArgumentParser:
    """The feature job's arguments."""
    parser = OneLineParser(
        prog=PROG,
        description="Extract MobileNetV2 features of a batch of images, project them on the promoted PCA "
        "basis, predict the fruit with the promoted classifier, write Parquet and one answer per image.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for add_options in (_add_io_options, _add_model_options, _add_head_options, _add_tuning_options):
        add_options(parser)
    add_runtime_options(parser)
    return parser


def _add_io_options(parser: argparse.ArgumentParser) -> None:
    """What to read, where to write, the batch's name, the answers and the catalog."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        help="folder or s3://bucket/prefix to read recursively (label: parent folder); this or --manifest",
    )
    source.add_argument(
        "--manifest",
        help="manifest (JSON Lines of {uri, label, size, etag}) listing the objects; this or --input",
    )
    parser.add_argument(
        "--output", required=True, help="the store: folder or s3:// prefix of features/ errors/ runs/"
    )
    parser.add_argument(
        "--batch-id", help="partition name; re-running a batch replaces it (default: derived)"
    )
    parser.add_argument(
        "--answers", help="write one JSON answer per input under this folder or s3:// prefix (default: none)"
    )
    parser.add_argument(
        "--glue-database",
        help="register the batch's partitions in this Glue database (s3:// output only; default: none)",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """The CNN: weights, checksum, backend, precision, threads."""
    parser.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        help=f"MobileNetV2 .weights.h5: path, s3:// URI or '{IMAGENET}' "
        "(default: the pinned file in models/)",
    )
    parser.add_argument(
        "--weights-sha256",
        help="expected sha256 of --weights ('skip' to accept any; default: the pinned one)",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default=LITERT, help=f"inference backend (default {LITERT})"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=FP32,
        help=f"model precision (default {FP32}; int8: docs/int8.md)",
    )
    parser.add_argument(
        "--threads-per-worker",
        type=positive_int,
        default=1,
        help="inference threads per Python worker (default 1)",
    )


def _add_head_options(parser: argparse.ArgumentParser) -> None:
    """The promoted PCA basis and classifier, and the confidence threshold."""
    parser.add_argument(
        "--pca-model",
        default=LATEST,
        help=f"PCA basis to project on: a version's URI or '{LATEST}' (default: the "
        "promoted one in --pca-model-dir; none promoted yet: rows get no pca)",
    )
    parser.add_argument("--pca-model-dir", help="the PCA registry (default <output>/pca_models)")
    parser.add_argument(
        "--classifier",
        default=LATEST,
        help=f"classifier: a version's URI or '{LATEST}' (default: the promoted "
        "one in --classifier-dir; none yet: no prediction)",
    )
    parser.add_argument("--classifier-dir", help="the classifier registry (default <output>/classifiers)")
    parser.add_argument(
        "--confidence-threshold",
        type=fraction,
        default=CONFIDENCE_THRESHOLD,
        help=f"below this the answer is 'unknown' (default {CONFIDENCE_THRESHOLD})",
    )


def _add_tuning_options(parser: argparse.ArgumentParser) -> None:
    """Limits and tuning of the extraction."""
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=BATCH_SIZE,
        help=f"images decoded and inferred together per worker (default {BATCH_SIZE})",
    )
    parser.add_argument(
        "--files-per-partition",
        type=positive_int,
        default=FILES_PER_PARTITION,
        help=f"at most this many files per Spark task (default {FILES_PER_PARTITION})",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=MAX_PIXELS,
        help=f"refuse images with more pixels, before decoding (default {MAX_PIXELS:,})",
    )
    parser.add_argument(
        "--max-file-bytes",
        type=positive_int,
        default=MAX_FILE_BYTES,
        help=f"refuse larger files, before reading them (default {MAX_FILE_BYTES:,})",
    )
    parser.add_argument(
        "--read-threads",
        type=positive_int,
        default=READ_THREADS,
        help=f"concurrent object reads per Python worker (default {READ_THREADS})",
    )


def _check_local_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fail fast, before anything starts, on local paths that do not exist."""
    if args.input and not is_s3_uri(args.input) and not local_path(args.input).is_dir():
        parser.error(f"--input folder not found: {args.input}")
    if args.manifest and not is_s3_uri(args.manifest) and not local_path(args.manifest).is_file():
        parser.error(f"--manifest file not found: {args.manifest}")
    if args.weights != IMAGENET and not is_s3_uri(args.weights) and not os.path.isfile(args.weights):
        parser.error(f"--weights file not found: {args.weights}")


def main(argv: Sequence[str] | None = None, *, epilog: str = "") -> int:
    """Parse, run, print the summary; a user's mistake exits 2 with one clear line."""
    parser = build_parser(epilog)
    args = parser.parse_args(argv)
    _check_local_paths(parser, args)
    options = {k: v for k, v in vars(args).items() if k not in ("s3_endpoint_url", "region", "master")}
    try:
        config = RunConfig(**options)
    except ValueError as exc:
        parser.error(str(exc))
    return run_command(PROG, lambda: _run(config, args))


def _run(config: RunConfig, args: argparse.Namespace) -> int:
    from spark_app.job.run import execute, prepare, writer_lease

    use_aws_options(args)  # prepare() reads the manifest and the models: before the session
    with writer_lease(config):
        prepared = prepare(config)
        with spark_session("fruits-features", args, arrow_batch_rows=config.batch_size) as spark:
            summary = execute(prepared, spark)
    print(format_summary(summary), flush=True)
    return EXIT_OK
