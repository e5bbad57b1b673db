"""``python -m spark_app classifier train|promote``: the classification engine's lifecycle.

``train`` fits a classifier on the labelled rows of a feature store, prints its validation metrics
(top-1/top-3 accuracy, macro-F1, the 1-NN baseline) and saves a version (not promoted unless
``--promote``); ``promote`` points LATEST at a version atomically, as for PCA bases.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from spark_app.cli.common import (
    EXIT_OK,
    add_runtime_options,
    add_store_option,
    positive_int,
    run_command,
    spark_session,
    use_aws_options,
)
from spark_app.cli.registry_commands import add_promote_command, run_promote
from spark_app.core.defaults import MIN_PER_CLASS, VALIDATION_PERCENT
from spark_app.core.heads import FEATURE_KINDS, RAW
from spark_app.models.registry import promote

PROG = "spark_app classifier"


def _percent(text: str) -> int:
    value = positive_int(text)
    if value >= 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 99, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,promote}")

    train = commands.add_parser(
        "train",
        help="train on the labelled rows of the store (saved, not promoted)",
        description="Train a classifier.",
    )
    add_store_option(train)
    train.add_argument(
        "--classifier-dir", required=True, help="the classifier registry where the version is saved"
    )
    train.add_argument(
        "--features",
        choices=FEATURE_KINDS,
        default=RAW,
        help=f"raw 1280-d features or their pca (default {RAW})",
    )
    train.add_argument(
        "--min-per-class",
        type=positive_int,
        default=MIN_PER_CLASS,
        help=f"refuse classes with fewer training images (default {MIN_PER_CLASS})",
    )
    train.add_argument(
        "--train-from-path", help="train on rows whose path has this folder, e.g. Training (default: all)"
    )
    train.add_argument(
        "--validation-from-path",
        help="validate on rows whose path has this folder, e.g. Test (default: a hash split)",
    )
    train.add_argument(
        "--validation-percent",
        type=_percent,
        default=VALIDATION_PERCENT,
        help=f"share held out by image-id hash without a path split (default {VALIDATION_PERCENT})",
    )
    train.add_argument("--promote", action="store_true", help="also promote the new version (default off)")
    add_runtime_options(train)

    add_promote_command(commands, "--classifier-dir")
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
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    use_aws_options(args)
    if args.command == "promote":
        return run_promote(args.classifier_dir, args)
    from spark_app.models.classifier import train

    with spark_session("fruits-classifier", args) as spark:
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
        promote(args.classifier_dir, trained.version)
    print("\n".join([*summary_lines(trained.metrics), f"saved          {trained.uri}"]), flush=True)
    print(
        json.dumps({k: trained.metrics[k] for k in ("version", "top1_accuracy", "top3_accuracy", "macro_f1")})
    )
    return EXIT_OK
