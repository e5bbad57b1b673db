"""``python -m spark_app classifier train|promote``: the classification engine's lifecycle.

``train`` fits a classifier on the curated (labelled) rows of a feature store and people's trusted
corrections, chooses its head and regularisation by cross-validation, prints its validation metrics
(top-1/top-3 accuracy, macro-F1, the 1-NN baseline) and the promotion gate's verdict, and saves a
version (not promoted unless ``--promote``, which applies the gate); ``promote`` points LATEST at a
version atomically, as for PCA bases (``--gate``: only a version whose verdict passed).
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
    positive_int,
    run_command,
    spark_session,
    use_aws_options,
)
from spark_app.cli.registry_commands import add_promote_command, run_promote
from spark_app.core.defaults import (
    CV_FOLDS,
    MAX_WEIGHT_PER_IDENTITY,
    MIN_PER_CLASS,
    REG_PARAM_GRID,
    VALIDATION_PERCENT,
)
from spark_app.core.heads import FEATURE_KINDS, HEAD_KINDS, RAW
from spark_app.models.gate import promote_if_passed

PROG = "spark_app classifier"


def _percent(text: str) -> int:
    value = positive_int(text)
    if value >= 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 99, got {text}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _numbers(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be numbers separated by commas, got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return values


def _heads(text: str) -> tuple[str, ...]:
    heads = tuple(part.strip() for part in text.split(","))
    unknown = set(heads) - set(HEAD_KINDS)
    if unknown or not heads:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(HEAD_KINDS)}, got {text!r}")
    return heads


def _folds(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
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
    train.add_argument(
        "--corrections",
        help="people's corrections: a folder or s3:// prefix, or 'none' (default: <store>/corrections)",
    )
    train.add_argument(
        "--max-weight-per-identity",
        type=_positive_number,
        default=MAX_WEIGHT_PER_IDENTITY,
        help="one identity's corrections together weigh at most this many curated images "
        f"(default {MAX_WEIGHT_PER_IDENTITY:g})",
    )
    train.add_argument(
        "--reg-params",
        type=_numbers,
        default=REG_PARAM_GRID,
        help="regParam values cross-validation chooses from (default "
        + ",".join(f"{r:g}" for r in REG_PARAM_GRID)
        + ")",
    )
    train.add_argument(
        "--heads",
        type=_heads,
        default=HEAD_KINDS,
        help=f"heads cross-validation chooses from (default {','.join(HEAD_KINDS)})",
    )
    train.add_argument(
        "--folds", type=_folds, default=CV_FOLDS, help=f"cross-validation folds (default {CV_FOLDS})"
    )
    train.add_argument(
        "--promote",
        action="store_true",
        help="also promote the new version if the promotion gate passed it (default off)",
    )
    add_runtime_options(train)

    promote = add_promote_command(commands, "--classifier-dir")
    promote.add_argument(
        "--gate",
        action="store_true",
        help="promote only a version the promotion gate passed, against the version promoted now "
        "(default off)",
    )
    return parser


def summary_lines(metrics: dict) -> list[str]:
    """The metrics a person reads after training."""
    recall = metrics["per_class_recall"]
    worst = sorted((r, label) for label, r in recall.items() if r is not None)[:3]
    selection, verdict = metrics["selection"], metrics["gate"]
    return [
        f"classifier     {metrics['version']} ({metrics['features']} features, "
        f"{len(metrics['labels'])} classes)",
        f"chosen         {selection['chosen']} by {selection['folds']}-fold cross-validation on "
        f"{selection['held_out_images']} curated images: "
        + (", ".join(f"{name} {score:.4f}" for name, score in selection["scores"].items()) or "-")
        + (f" ({selection['note']})" if selection["note"] else ""),
        f"trained on     {metrics['train_images']} curated images in {metrics['train_seconds']:.1f} s "
        f"(+ {metrics['selection_seconds']:.1f} s of cross-validation)",
        "corrections    " + correction_line(metrics["corrections"]),
        f"validation     {metrics['validation_images']} images: top-1 {metrics['top1_accuracy']:.4f}, "
        f"top-3 {metrics['top3_accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}",
        f"1-NN baseline  top-1 {metrics['nearest_neighbour_top1_accuracy']:.4f} (same features)",
        "lowest recall  " + ", ".join(f"{label} {r:.2f}" for r, label in worst),
        "gate           " + gate_line(verdict),
    ]


def correction_line(counts: dict) -> str:
    """What became of the corrections read."""
    if not counts["read"] and not counts.get("unreadable"):
        return "none"
    dropped = ", ".join(
        f"{counts[key]} {text}"
        for key, text in (
            ("new_class", "new-class proposal(s)"),
            ("outside_classes", "outside the trained classes"),
            ("curated", "of curated images"),
            ("no_features", "without features"),
            ("disagreement", "image(s) without agreement"),
            ("unreadable", "unreadable"),
        )
        if counts.get(key)
    )
    return (
        f"{counts['read']} read: {counts['images']} image(s) from {counts['identities']} identit(y/ies), "
        f"weight {counts['weight']:.2f}" + (f"; not used: {dropped}" if dropped else "")
    )


def gate_line(verdict: dict) -> str:
    """The promotion gate's verdict in one line."""
    if not verdict["passed"]:
        return "REFUSED: " + "; ".join(verdict["reasons"])
    against = (
        f"vs {verdict['against']} ({verdict['promoted_top1']:.4f})"
        if verdict["promoted_top1"] is not None
        else f"({verdict['note']})"
    )
    return f"passed {against}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("train",):
        check_store(parser, args.store)
    return run_command(PROG, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    use_aws_options(args)
    if args.command == "promote":
        if args.gate:
            done = promote_if_passed(args.classifier_dir, args.version)
            print(json.dumps({"promoted": done.current, "previous": done.previous, "changed": done.changed}))
            return EXIT_OK
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
            reg_params=args.reg_params,
            folds=args.folds,
            heads=args.heads,
            corrections=args.corrections,
            max_weight_per_identity=args.max_weight_per_identity,
        )
    print("\n".join([*summary_lines(trained.metrics), f"saved          {trained.uri}"]), flush=True)
    if args.promote:
        promote_if_passed(args.classifier_dir, trained.version)
    print(
        json.dumps(
            {k: trained.metrics[k] for k in ("version", "head", "top1_accuracy", "top3_accuracy", "macro_f1")}
            | {"gate_passed": trained.metrics["gate"]["passed"]}
        )
    )
    return EXIT_OK
