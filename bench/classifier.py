"""``python -m bench.classifier``: the classification engine's numbers, in one run on the same images.

On the shared Fruits-360 sample (Training -> Test split): accuracy of the classifier on raw features and
on the PCA projection, with the 1-nearest-neighbour baseline on the same features, training time, and the
prediction overhead per image against the feature extraction it follows (target < 5 %):

- ``isolated``: the prediction step alone as the extraction pass runs it (NumPy softmax and top 3 over
  the batch's features, ``spark_app/heads.py``), divided by the feature extraction time of the batch;
- ``end to end``: the same batch run without then with the promoted classifier, alternated 3 times,
  medians compared (the figure that matters: prediction runs inside the batch's write).

Writes ``bench/results/<date>-classifier.json`` and ``.md``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.datasets import sample_root
from spark_app.heads import Heads, apply_heads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_OVERHEAD = 0.05
REPEATS = 3


def main() -> int:
    from spark_app import classifier
    from spark_app.job.config import RunConfig
from spark_app.job.run import run
    from spark_app.models.registry import promote
    from spark_app.job.session import build_session

    source = sample_root()
    spark = build_session("bench-classifier", master="local[*]", arrow_batch_rows=32)
    work = Path(tempfile.mkdtemp(prefix="bench-classifier-"))
    store, classifiers = str(work / "store"), str(work / "classifiers")
    base = {"input": str(source), "output": store, "pca_variance": 0.95, "pca_fit_any_size": True}
    features = run(RunConfig(**base, batch_id="features"), spark)
    promote(str(work / "store" / "pca_models"), features.pca_version)
    results: dict = {"images": features.images, "source": str(source), "extract_seconds": features.seconds}
    trained = {}
    for kind in classifier.FEATURE_KINDS:
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
    chosen = trained[classifier.RAW]
    promote(classifiers, chosen.version, marker=classifier.METRICS_FILE)

    # In the pipeline the prediction is the NumPy "heads" step of the extraction pass: time it alone.
    features = [
        np.asarray(f, dtype=np.float32)
        for f in spark.read.parquet(f"{store}/features")
        .filter("batch_id = 'features'")
        .select("features")
        .toPandas()["features"]
    ]
    loaded = classifier.load_classifier(chosen.uri)
    heads = Heads(
        classifier_weights=loaded.model.coefficientMatrix.toArray(),
        classifier_intercepts=loaded.model.interceptVector.toArray(),
        classifier_labels=tuple(loaded.labels),
        classifier_version=loaded.version,
    )
    apply_heads(features[:8], heads)  # warm-up
    started = time.perf_counter()
    apply_heads(features, heads)
    predict_seconds = time.perf_counter() - started
    # The same batch twice more, on the promoted basis (no fit), without then with the classifier:
    # both after the first run warmed the session up.
    reuse = {"input": str(source), "output": store, "pca_model": "latest"}
    seconds: dict[str, list[float]] = {"without": [], "with": []}
    for round_ in range(REPEATS):  # alternated, so that drift of the shared machine hits both alike
        seconds["without"].append(run(RunConfig(**reuse, batch_id=f"without-{round_}"), spark).seconds)
        predicted = RunConfig(
            **reuse, batch_id=f"with-{round_}", classifier="latest", classifier_dir=classifiers
        )
        seconds["with"].append(run(predicted, spark).seconds)
    spark.stop()
    without, with_classifier = statistics.median(seconds["without"]), statistics.median(seconds["with"])
    results["prediction"] = {
        "isolated_seconds": round(predict_seconds, 3),
        "isolated_overhead": round(predict_seconds / without, 4),
        "run_without_seconds": round(without, 3),
        "run_with_seconds": round(with_classifier, 3),
        "runs": seconds,
        "end_to_end_overhead": round((with_classifier - without) / without, 4),
        "target": TARGET_OVERHEAD,
    }
    write(results)
    return 0


def write(results: dict) -> None:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{date}-classifier.json").write_text(json.dumps(results, indent=2, sort_keys=True))
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
    (RESULTS_DIR / f"{date}-classifier.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
