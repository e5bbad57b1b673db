"""``python -m bench.classifier``: the classification engine's numbers, in one run on the same images.

On the shared Fruits-360 sample (Training -> Test split): accuracy of the classifier on raw features and
on the PCA projection, with the 1-nearest-neighbour baseline on the same features, training time, and the
prediction overhead per image against the feature extraction it follows (target < 5 %):

- ``isolated``: the prediction step alone as the extraction pass runs it (NumPy softmax and top 3 over
  the batch's features, ``spark_app/core/heads.py``), divided by the feature extraction time of the batch;
- ``end to end``: the same batch run without then with the promoted classifier, alternated 3 times,
  medians compared (the figure that matters: prediction runs inside the batch's write).

The store is made as in production: a features-only job (no basis promoted yet), a basis fitted over the
store (``fit_over_store``, k by the 0.95 variance target) and promoted, the store back-filled onto it (the
PCA classifier trains on the ``pca`` column), then the classifiers trained and the raw one promoted.

Writes ``bench/results/<date>-classifier.json`` and ``.md``.
``python -m bench.classifier [--source DIR] [--results-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.datasets import sample_root
from spark_app.core.heads import FEATURE_KINDS, RAW, Heads, apply_heads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_OVERHEAD = 0.05
REPEATS = 3
PCA_VARIANCE = 0.95


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.classifier", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="images under Training/ and Test/ (default: the shared Fruits-360 sample, else data/sample)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="default bench/results")
    parser.add_argument(
        "--pca-k",
        type=int,
        default=None,
        help=f"components of the basis (default: the smallest k reaching {PCA_VARIANCE} of the variance)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from spark_app.job.config import RunConfig
    from spark_app.job.run import run
    from spark_app.job.session import build_session
    from spark_app.models import classifier, registry
    from spark_app.models.pca import backfill, fit_over_store

    args = parse_args(argv)
    source = args.source or sample_root()
    spark = build_session("bench-classifier", master="local[*]", arrow_batch_rows=32)
    work = Path(tempfile.mkdtemp(prefix="bench-classifier-"))
    store, classifiers = str(work / "store"), str(work / "classifiers")
    pca_models = str(work / "store" / "pca_models")  # the job's default registry: its batches project
    features = run(RunConfig(input=str(source), output=store, batch_id="features"), spark)
    started = time.perf_counter()
    fitted = fit_over_store(
        spark,
        store,
        pca_models,
        k=args.pca_k,
        variance=None if args.pca_k else PCA_VARIANCE,
        min_images=features.images,
    )
    registry.promote(pca_models, fitted.basis.version)
    backfill(spark, store, pca_models)
    results: dict = {
        "images": features.images,
        "source": str(source),
        "extract_seconds": features.seconds,
        "pca": {"version": fitted.basis.version, "k": fitted.basis.k},
        "pca_fit_promote_backfill_seconds": round(time.perf_counter() - started, 3),
    }
    trained = {}
    for kind in FEATURE_KINDS:
        started = time.perf_counter()
        trained[kind] = classifier.train(
            spark,
            store,
            classifiers,
            features=kind,
            train_path="Training",
            validation_path="Test",
            min_per_class=3,
        )
        m = trained[kind].metrics
        results[kind] = {
            "top1": m["top1_accuracy"],
            "top3": m["top3_accuracy"],
            "macro_f1": m["macro_f1"],
            "nearest_neighbour_top1": m["nearest_neighbour_top1_accuracy"],
            "train_seconds": m["train_seconds"],
            "train_wall_seconds": round(time.perf_counter() - started, 3),
            "classes": len(m["labels"]),
            "train_images": m["train_images"],
            "validation_images": m["validation_images"],
        }
    chosen = trained[RAW]
    registry.promote(classifiers, chosen.version)

    # In the pipeline the prediction is the NumPy "heads" step of the extraction pass: time it alone.
    vectors = [
        np.asarray(f, dtype=np.float32)
        for f in spark.read.parquet(f"{store}/features")
        .filter("batch_id = 'features'")
        .select("features")
        .toPandas()["features"]
    ]
    heads = Heads(classifier=registry.load_classifier(chosen.uri))
    apply_heads(vectors[:8], heads)  # warm-up
    started = time.perf_counter()
    apply_heads(vectors, heads)
    predict_seconds = time.perf_counter() - started
    # The same batch twice more, on the promoted basis (every job projects on it), without then with the
    # classifier: both after the first run warmed the session up. "Without": the job's default classifier
    # registry (<store>/classifiers) is empty; "with": the registry where the raw classifier is promoted.
    seconds: dict[str, list[float]] = {"without": [], "with": []}
    for round_ in range(REPEATS):  # alternated, so that drift of the shared machine hits both alike
        without = RunConfig(input=str(source), output=store, batch_id=f"without-{round_}")
        seconds["without"].append(run(without, spark).seconds)
        predicted = RunConfig(
            input=str(source), output=store, batch_id=f"with-{round_}", classifier_dir=classifiers
        )
        seconds["with"].append(run(predicted, spark).seconds)
    spark.stop()
    without_median, with_median = statistics.median(seconds["without"]), statistics.median(seconds["with"])
    results["prediction"] = {
        "isolated_seconds": round(predict_seconds, 3),
        "isolated_overhead": round(predict_seconds / without_median, 4),
        "run_without_seconds": round(without_median, 3),
        "run_with_seconds": round(with_median, 3),
        "runs": seconds,
        "end_to_end_overhead": round((with_median - without_median) / without_median, 4),
        "target": TARGET_OVERHEAD,
    }
    write(results, args.results_dir)
    return 0


def write(results: dict, results_dir: Path = RESULTS_DIR) -> None:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{date}-classifier.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    p = results["prediction"]
    lines = [
        f"# Classifier benchmark ({date})",
        "",
        f"{results['images']} images of {results['source']} (Training -> Test); one run, one machine.",
        "",
        "| features | top-1 | top-3 | macro-F1 | 1-NN top-1 | training (s) |",
        "| --- | --- | --- | --- | --- | --- |",
        *[
            f"| {k} | {results[k]['top1']:.4f} | {results[k]['top3']:.4f} | {results[k]['macro_f1']:.4f} | "
            f"{results[k]['nearest_neighbour_top1']:.4f} | {results[k]['train_seconds']:.1f} |"
            for k in ("raw", "pca")
        ],
        "",
        f"Prediction overhead (target < {p['target']:.0%} of feature extraction): isolated "
        f"{p['isolated_overhead']:.2%} ({p['isolated_seconds']:.2f} s for the batch vs "
        f"{p['run_without_seconds']:.1f} s to extract it); end to end {p['end_to_end_overhead']:+.2%} "
        f"(median of 3 alternated runs: {p['run_with_seconds']:.2f} s vs {p['run_without_seconds']:.2f} s).",
    ]
    (results_dir / f"{date}-classifier.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
