"""``python -m bench.int8``: the int8 LiteRT model against the fp32 one, side by side in one run.

On the shared Fruits-360 sample (or data/sample when it is absent), every image decoded once:

- speed: both committed models (``prepare_payload`` + ``build_extractor``, one thread, one image per
  invoke, as a worker runs them) on the same preprocessed tensors, chunk by chunk, the order alternated
  from one chunk to the next so that the shared machine's drift hits both alike;
- peak RSS of a child process that builds one extractor and runs a few images (and of one without a
  model, the baseline);
- per-image cosine similarity of the int8 features to the fp32 ones;
- downstream accuracy (Training -> Test): the feature job run once per precision (features only: no
  basis is promoted in its store), then the project's classifier training
  (``spark_app.models.classifier.train``: logistic regression, and its 1-NN baseline).

Writes ``bench/results/<date>-int8.json`` and ``.md``; docs/int8.md discusses the numbers.
``python -m bench.int8 [--source DIR] [--results-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.datasets import REPO_ROOT, sample_images, sample_root
from spark_app.core.decode import decode_image, preprocess
from spark_app.core.metrics import nearest_neighbour_predictions
from spark_app.core.model import (
    FP32,
    INT8,
    LITERT,
    PINNED_LITERT_INT8_NAME,
    PINNED_LITERT_NAME,
    PINNED_WEIGHTS_SHA256,
    PRECISIONS,
    FeatureExtractor,
    build_extractor,
)
from spark_app.models.weights import DEFAULT_WEIGHTS, prepare_payload

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MODEL_FILES = {FP32: PINNED_LITERT_NAME, INT8: PINNED_LITERT_INT8_NAME}
CHUNK = 20
ROUNDS = 2
RSS_IMAGES = 8
NO_MODEL = "none"
MAX_ACCURACY_DROP_POINTS = 0.5


def extractor(precision: str) -> FeatureExtractor:
    """The extractor a worker builds for ``precision`` (committed model, one thread)."""
    return build_extractor(
        prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT, precision=precision)
    )


def decode_all(paths: list[Path]) -> np.ndarray:
    """(n, 224, 224, 3) uint8 pixels, decoded like the job does."""
    return np.stack([decode_image(p.read_bytes()).pixels for p in paths])


def timed_features(pixels: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float], list[float]]:
    """Features of every image with both models, timed chunk by chunk in alternating order.

    Returns (features, seconds per precision over ``ROUNDS`` passes, per-chunk int8/fp32 speed ratios).
    """
    models = {p: extractor(p) for p in PRECISIONS}
    for model in models.values():
        model.extract(preprocess(pixels[:4]))  # warm-up (XNNPACK packs weights on first invoke)
    features = {p: np.empty((len(pixels), 1280), dtype=np.float32) for p in PRECISIONS}
    seconds = dict.fromkeys(PRECISIONS, 0.0)
    ratios = []
    for round_ in range(ROUNDS):
        for i, start in enumerate(range(0, len(pixels), CHUNK)):
            batch = preprocess(pixels[start : start + CHUNK])
            order = PRECISIONS if (i + round_) % 2 == 0 else PRECISIONS[::-1]
            chunk_seconds = {}
            for precision in order:
                started = time.perf_counter()
                features[precision][start : start + CHUNK] = models[precision].extract(batch)
                chunk_seconds[precision] = time.perf_counter() - started
                seconds[precision] += chunk_seconds[precision]
            ratios.append(chunk_seconds[FP32] / chunk_seconds[INT8])
    return features, seconds, ratios


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Per-row cosine similarity of ``b`` to ``a``: mean, min, 5th percentile."""
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {
        "mean": round(float(cos.mean()), 5),
        "min": round(float(cos.min()), 5),
        "p5": round(float(np.percentile(cos, 5)), 5),
    }


def peak_rss_mb(precision: str, source: Path) -> float:
    """Peak RSS (MB) of a child that builds the ``precision`` extractor and runs a few images."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.int8", "--rss", precision, "--source", str(source)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def rss_child(precision: str, source: Path) -> int:
    """``--rss PRECISION|none``: print this process's peak RSS in MB after running a few images.

    Reads ``VmHWM`` (this program's own high-water mark): ``ru_maxrss`` would carry the parent's, which
    forked this child while it held every decoded image.
    """
    pixels = decode_all(sample_images(source)[:RSS_IMAGES])
    if precision != NO_MODEL:
        extractor(precision).extract(preprocess(pixels))
    status = Path("/proc/self/status").read_text()
    print(round(int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1]) / 1024, 1))
    return 0


def nearest_neighbour_agreement(paths: list[Path], features: dict[str, np.ndarray]) -> dict[str, object]:
    """1-NN (cosine, Training -> Test) on the directly extracted features: accuracy per precision and
    the Test images one precision gets right and the other wrong (the discordant pairs)."""
    labels = np.asarray([p.parent.name for p in paths])
    test = np.asarray(["Test" in p.parts for p in paths])
    correct = {}
    for precision, x in features.items():
        predicted = nearest_neighbour_predictions(x[~test], labels[~test], x[test])
        correct[precision] = predicted == labels[test]
    return {
        "top1": {p: round(float(c.mean()), 4) for p, c in correct.items()},
        "only_fp32_right": int(np.sum(correct[FP32] & ~correct[INT8])),
        "only_int8_right": int(np.sum(correct[INT8] & ~correct[FP32])),
        "test_images": int(test.sum()),
    }


def accuracy(source: Path, work: Path) -> dict[str, dict[str, float]]:
    """Per precision: the pipeline's features of the sample, then the project's classifier training."""
    from spark_app.job.config import RunConfig
    from spark_app.job.run import run
    from spark_app.job.session import build_session
    from spark_app.models import classifier

    spark = build_session("bench-int8", master="local[*]", arrow_batch_rows=32)
    results = {}
    try:
        for precision in PRECISIONS:
            store = str(work / precision)
            summary = run(
                RunConfig(input=str(source), output=store, batch_id=precision, precision=precision), spark
            )
            m = classifier.train(
                spark,
                store,
                str(work / f"{precision}-classifiers"),
                train_path="Training",
                validation_path="Test",
                min_per_class=3,
            ).metrics
            results[precision] = {
                "model_version": summary.model_version,
                "classifier_top1": m["top1_accuracy"],
                "classifier_top3": m["top3_accuracy"],
                "classifier_macro_f1": m["macro_f1"],
                "nearest_neighbour_top1": m["nearest_neighbour_top1_accuracy"],
                "train_images": m["train_images"],
                "validation_images": m["validation_images"],
            }
    finally:
        spark.stop()
    return results


def decide(results: dict) -> dict[str, object]:
    """Adopt int8 as the default only if no accuracy drops by more than 0.5 point and it is faster."""
    acc = results["accuracy"]
    drops = {
        k: round(100 * (acc[FP32][k] - acc[INT8][k]), 2)
        for k in ("classifier_top1", "nearest_neighbour_top1")
    }
    faster = results["speed"]["int8_over_fp32"] > 1.0
    adopt = faster and max(drops.values()) <= MAX_ACCURACY_DROP_POINTS
    return {"accuracy_drop_points": drops, "faster": faster, "adopt_int8_as_default": adopt}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.int8", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="images under Training/ and Test/ (default: the shared Fruits-360 sample, else data/sample)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="default bench/results")
    parser.add_argument("--rss", choices=(NO_MODEL, *PRECISIONS), help=argparse.SUPPRESS)  # the RSS child
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    source = args.source or sample_root()
    if args.rss:
        return rss_child(args.rss, source)
    paths = sample_images(source)
    pixels = decode_all(paths)
    features, seconds, ratios = timed_features(pixels)
    n = len(paths) * ROUNDS
    results: dict = {
        "images": len(paths),
        "source": str(source),
        "threads": 1,
        "chunk": CHUNK,
        "rounds": ROUNDS,
        "model_mb": {
            p: round((REPO_ROOT / "models" / f).stat().st_size / 1e6, 2) for p, f in MODEL_FILES.items()
        },
        "speed": {
            "images_per_second": {p: round(n / s, 1) for p, s in seconds.items()},
            "int8_over_fp32": round(seconds[FP32] / seconds[INT8], 3),
            "chunk_ratio_median": round(float(np.median(ratios)), 3),
            "chunk_ratio_p5_p95": [round(float(np.percentile(ratios, q)), 3) for q in (5, 95)],
        },
        "peak_rss_mb": {p: peak_rss_mb(p, source) for p in (NO_MODEL, *PRECISIONS)},
        "cosine_int8_vs_fp32": cosine_stats(features[FP32], features[INT8]),
        "nearest_neighbour_direct": nearest_neighbour_agreement(paths, features),
    }
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as work:
        results["accuracy"] = accuracy(source, Path(work))
    results["decision"] = decide(results)
    write(results, args.results_dir)
    return 0


def write(results: dict, results_dir: Path = RESULTS_DIR) -> None:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{date}-int8.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (results_dir / f"{date}-int8.md").write_text(report(results, date))
    print(report(results, date), flush=True)


def report(r: dict, date: str) -> str:
    """The Markdown table of one run."""
    s, acc, rss, cos, d = r["speed"], r["accuracy"], r["peak_rss_mb"], r["cosine_int8_vs_fp32"], r["decision"]
    nn = r["nearest_neighbour_direct"]

    def row(name: str, fp32: float, int8: float, fmt: str, ratio: str) -> str:
        return f"| {name} | {fp32:{fmt}} | {int8:{fmt}} | {ratio} |"

    ips = s["images_per_second"]
    lines = [
        f"# int8 vs fp32 LiteRT model ({date})",
        "",
        f"{r['images']} images of {r['source']}; one run, one machine (2 cores, shared). Speed: one thread, "
        f"{r['rounds']} passes over the same preprocessed tensors, chunks of {r['chunk']} images with the "
        "order alternated. Accuracy: Training -> Test, features from the pipeline at each precision.",
        "",
        "| | fp32 | int8 | int8 vs fp32 |",
        "| --- | --- | --- | --- |",
        row(
            "model file (MB)",
            r["model_mb"][FP32],
            r["model_mb"][INT8],
            ".2f",
            f"{r['model_mb'][INT8] / r['model_mb'][FP32]:.2f}x",
        ),
        row(
            "inference (images/s, 1 thread)",
            ips[FP32],
            ips[INT8],
            ".1f",
            f"{s['int8_over_fp32']:.2f}x faster",
        ),
        row(
            f"peak RSS of one process running it (MB; {rss[NO_MODEL]:.0f} with no model)",
            rss[FP32],
            rss[INT8],
            ".0f",
            f"{rss[INT8] - rss[FP32]:+.0f} MB",
        ),
    ]
    for key, name in (
        ("classifier_top1", "classifier top-1 (logistic regression)"),
        ("nearest_neighbour_top1", "1-NN top-1 (cosine)"),
    ):
        lines.append(
            row(
                name,
                acc[FP32][key],
                acc[INT8][key],
                ".4f",
                f"{0.0 - d['accuracy_drop_points'][key]:+.2f} points",
            )
        )
    lines += [
        "",
        f"Per-image cosine of int8 to fp32 features: mean {cos['mean']:.4f}, min {cos['min']:.4f}, "
        f"5th percentile {cos['p5']:.4f}. Per-chunk speed ratio: median {s['chunk_ratio_median']:.2f}x "
        f"(5th-95th percentile {s['chunk_ratio_p5_p95'][0]:.2f}x-{s['chunk_ratio_p5_p95'][1]:.2f}x).",
        "",
        f"1-NN on the same features extracted directly (Training -> Test, {nn['test_images']} images): "
        f"fp32 {nn['top1'][FP32]:.4f}, int8 {nn['top1'][INT8]:.4f}; {nn['only_fp32_right']} images only fp32 "
        f"gets right, {nn['only_int8_right']} only int8 gets right (one image = "
        f"{100 / nn['test_images']:.2f} point).",
        "",
        f"Rule (adopt int8 as the default only if faster and no accuracy drops by more than "
        f"{MAX_ACCURACY_DROP_POINTS} point): {'met' if d['adopt_int8_as_default'] else 'not met'}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
