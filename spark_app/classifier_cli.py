"""``python -m spark_app classifier train|promote``: the classification engine's lifecycle.

``train`` fits a classifier on the labelled rows of a feature store, prints its validation metrics
(top-1/top-3 accuracy, macro-F1, the 1-NN baseline) and saves a version (not promoted unless
``--promote``); ``promote`` points LATEST at a version atomically, as for PCA bases.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from spark_app import storage
from spark_app.classifier import (
    DEFAULT_MIN_PER_CLASS,
    DEFAULT_VALIDATION_PERCENT,
    FEATURE_KINDS,
    METRICS_FILE,
    RAW,
    ClassifierError,
)
from spark_app.registry import PromotionError, promote
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
    parser, commands, common = subcommand_parser("spark_app classifier", __doc__.splitlines()[0])

    train = commands.add_parser("train", parents=[common], help="train on the labelled rows of the store")
    train.add_argument("--store", required=True, help="feature store root (the job's --output)")
    train.add_argument("--classifier-dir", required=True, help="where classifier versions are saved")
    train.add_argument("--features", choices=FEATURE_KINDS, default=RAW, help="raw 1280-d features or pca")
    train.add_argument("--min-per-class", type=positive_int, default=DEFAULT_MIN_PER_CLASS)
    train.add_argument("--train-from-path", help="train on rows whose path has this folder (e.g. Training)")
    train.add_argument(
        "--validation-from-path", help="validate on rows whose path has this folder (e.g. Test)"
    )
    train.add_argument("--validation-percent", type=int, default=DEFAULT_VALIDATION_PERCENT)
    train.add_argument("--promote", action="store_true", help="also promote the new version")

    add_promote_command(commands, common, "--classifier-dir")
    return parser


def summary_lines(metrics: dict) -> list[str]:
    """The metrics a person reads after training."""
    recall = metrics["per_class_recall"]
    worst = sorted((r, label) for label, r in recall.items() if r is not None)[:3]
    return [
        f"classifier     {metrics['version']} ({metrics['features']} features, "
        f"{len(metrics['labels'])} classes)",
        f"trained on     {metrics['train_images']} images in {metrics['train_seconds']:.1f} s",
        f"validation     {metrics['validation_images']} images: top-1 {metrics['top1_accuracy']:.4f}, "
        f"top-3 {metrics['top3_accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}",
        f"1-NN baseline  top-1 {metrics['nearest_neighbour_top1_accuracy']:.4f} (same features)",
        "lowest recall  " + ", ".join(f"{label} {r:.2f}" for r, label in worst),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    use_endpoint(args)
    try:
        if args.command == "promote":
            done = promote(args.classifier_dir, args.version, force=args.force, marker=METRICS_FILE)
            print(promotion_json(done))
            return EXIT_OK
        return _train(args)
    except (ClassifierError, PromotionError, storage.StorageError) as exc:
        print(f"spark_app classifier: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _train(args: argparse.Namespace) -> int:
    from spark_app.classifier import train

    with spark_session("fruits-classifier", args.master, arrow_batch_rows=1024) as spark:
        trained = train(
            spark,
            args.store,
            args.classifier_dir,
            features=args.features,
            min_per_class=args.min_per_class,
            train_path=args.train_from_path,
            validation_path=args.validation_from_path,
            validation_percent=args.validation_percent,
        )
    if args.promote:
        promote(args.classifier_dir, trained.version, marker=METRICS_FILE)
    print("\n".join([*summary_lines(trained.metrics), f"saved          {trained.uri}"]), flush=True)
    print(
        json.dumps({k: trained.metrics[k] for k in ("version", "top1_accuracy", "top3_accuracy", "macro_f1")})
    )
    return EXIT_OK
