"""Measurement 2: this project's pipeline, run as a deployed batch runs it, cold then warm.

One process is one job, as on EMR Serverless: Python start and imports, the Spark session (JVM),
the model payload and the promoted heads (``prepare``), then the batch. Recorded in one process:

* **whole process, cold**: from the process's creation (psutil) to the end of the batch's run, with
  a fresh model cache (``FRUITS_CACHE_DIR`` is set to an empty folder by the caller);
* **the batch's run, cold**: ``execute()`` only, the session started and the batch prepared;
* **warm runs** (steady state): the same batch again in the same session, whose Python workers
  already hold the model; their **features phase** is the single pass (from the pipeline's
  "files in N partitions" log line to its "features:" line).

A job is always the single pass: it projects on the basis promoted in ``--pca-model-dir`` (default
``<output>/pca_models``; none promoted there: features only) and never fits one. ``--fit-basis`` then
fits a basis over the job's store (``spark_app.models.pca.fit_over_store``, k by the variance target)
and promotes it, in this process after the measured runs (to prepare the production runs; the fit is
timed on its own). ``--empty`` runs a batch of no files: the fixed cost of a job.

``python -m bench.ours (--input DIR | --manifest FILE) --output DIR --result OUT.json [options]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import psutil

from bench.measure import tree_cpu_seconds
from spark_app.cli.common import configure_logging
from spark_app.core.defaults import (
    BATCH_SIZE,
    FEATURES_DIR,
    FILES_PER_PARTITION,
    LATEST,
    MIN_IMAGES_PER_COMPONENT,
    PCA_MIN_IMAGES,
    PCA_MODELS_DIR,
    PCA_VARIANCE,
)
from spark_app.core.model import BACKENDS, LITERT
from spark_app.job.config import RunConfig
from spark_app.job.run import execute, prepare
from spark_app.job.session import build_session

PHASE_START, PHASE_END = "files in", "features:"
SINGLE_PASS, FEATURES_ONLY = "single pass (promoted basis)", "single pass, no basis (features only)"


class _Phases(logging.Handler):
    """Timestamps of the pipeline's log lines (``fruits`` logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((time.perf_counter(), record.getMessage()))

    def features_phase(self, since: float) -> float | None:
        """Seconds of the last run's single pass, from its log lines."""
        return features_phase(self.events, since)


def features_phase(events: list[tuple[float, str]], since: float) -> float | None:
    """Seconds from the first "files in N partitions" line at or after ``since`` to the next "features:"."""
    events = [(t, m) for t, m in events if t >= since]
    start = next((t for t, m in events if PHASE_START in m), None)
    if start is None:
        return None
    end = next((t for t, m in events if t >= start and m.startswith(PHASE_END)), None)
    return round(end - start, 3) if end is not None else None


def _process_age() -> float:
    """Seconds since this process was created (the whole process's clock)."""
    return time.time() - psutil.Process().create_time()


def _config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        output=str(args.output.resolve()),
        input=str(args.input.resolve()) if args.input else None,
        manifest=str(args.manifest.resolve()) if args.manifest else None,
        batch_id="bench",
        backend=args.backend,
        files_per_partition=args.files_per_partition,
        batch_size=args.arrow_batch_rows,
        pca_model=LATEST,
        pca_model_dir=str(args.pca_model_dir.resolve()) if args.pca_model_dir else None,
    )


def _run(prepared, spark, phases: _Phases) -> dict[str, object]:
    started = time.perf_counter()
    summary = execute(dataclasses.replace(prepared, started=started), spark)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "images_per_second": round(summary.inputs / seconds, 2) if summary.inputs else None,
        "features_phase_seconds": phases.features_phase(started),
        "log": [(round(t - started, 3), m) for t, m in phases.events if t >= started],
        "model_builds": summary.model_builds,
        "summary": asdict(summary),
    }


def fit_basis(spark, store: Path, min_images: int, variance: float = PCA_VARIANCE) -> dict[str, object]:
    """Fit a basis over ``store`` (k by ``variance``), save it in ``<store>/pca_models`` and promote it.

    When the store has too few distinct images for the k the variance target needs (the fit wants 4 per
    component), k is capped at what they support, and the result says so.
    """
    from spark_app.models.pca import PcaError, fit_over_store
    from spark_app.models.registry import promote

    model_dir = str(store / PCA_MODELS_DIR)
    started = time.perf_counter()
    capped_from = None
    try:
        fitted = fit_over_store(spark, str(store), model_dir, variance=variance, min_images=min_images)
    except PcaError as exc:
        distinct = spark.read.parquet(str(store / FEATURES_DIR)).select("image_id").distinct().count()
        k = distinct // MIN_IMAGES_PER_COMPONENT
        if k < 1 or "per component" not in str(exc):
            raise
        capped_from = str(exc)
        fitted = fit_over_store(spark, str(store), model_dir, k=k, min_images=min(min_images, distinct))
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    promotion = promote(model_dir, fitted.basis.version)
    info = fitted.version.info
    return {
        "version": promotion.current,
        "model_dir": model_dir,
        "k": fitted.basis.k,
        "variance_target": variance,
        "k_capped": capped_from,
        "explained_variance": round(info["cumulative_explained_variance"], 4),
        "images": info["fitted_on"]["images"],
        "min_images": min_images,
        # The whole fit (read the store, dedup, count, X^T X, eigh, save; both fits when k was capped) ...
        "fit_seconds": round(fit_seconds, 3),
        # ... and the one the registry records, from fit_over_store's own clock.
        "registry_fit_seconds": info["fit_seconds"],
        "promote_seconds": round(time.perf_counter() - started, 3),
    }


def measure(args: argparse.Namespace) -> dict[str, object]:
    """The cold batch (whole process and run), then ``--warm-runs`` warm repeats."""
    if args.output.exists():
        shutil.rmtree(args.output)
    configure_logging()
    phases = _Phases()
    logging.getLogger("fruits").addHandler(phases)
    imports_done = _process_age()
    started = time.perf_counter()
    spark = build_session("bench-ours", master=args.master, arrow_batch_rows=args.arrow_batch_rows)
    session_seconds = time.perf_counter() - started
    basis = None
    try:
        started = time.perf_counter()
        prepared = prepare(_config(args))
        prepare_seconds = time.perf_counter() - started
        if args.empty:
            prepared = dataclasses.replace(prepared, items=[])
        cold = _run(prepared, spark, phases)
        whole_process, cold_cpu = _process_age(), tree_cpu_seconds(os.getpid())
        warm = [_run(prepared, spark, phases) for _ in range(args.warm_runs)]
        warm_cpu = tree_cpu_seconds(os.getpid()) - cold_cpu
        parallelism = spark.sparkContext.defaultParallelism
        if args.fit_basis:
            basis = fit_basis(spark, args.output.resolve(), args.min_images)
    finally:
        spark.stop()
    inputs = len(prepared.items)
    features = [w["features_phase_seconds"] for w in warm if w["features_phase_seconds"]]
    return {
        "images": inputs,
        "ok_images": cold["summary"]["images"],
        "backend": args.backend,
        "mode": SINGLE_PASS if cold["summary"]["pca_version"] else FEATURES_ONLY,
        "pca_version": cold["summary"]["pca_version"],
        "pca_k": cold["summary"]["pca_k"],
        "imports_seconds": round(imports_done, 3),
        "session_start_seconds": round(session_seconds, 3),
        # Listing, the model payload and the promoted heads, before the batch's run (outside its clock).
        "prepare_seconds": round(prepare_seconds, 3),
        "whole_process_seconds": round(whole_process, 3),
        "whole_process_images_per_second": round(inputs / whole_process, 2) if inputs else None,
        "cold_cpu_seconds": round(cold_cpu, 2),
        "warm_cpu_seconds_per_image": round(warm_cpu / (inputs * len(warm)), 5) if warm and inputs else None,
        # The batch's run with the session started (cold workers): the figure reported before.
        "seconds": cold["seconds"],
        "images_per_second": cold["images_per_second"],
        "warm_seconds": [w["seconds"] for w in warm],
        "warm_images_per_second": max((w["images_per_second"] or 0 for w in warm), default=None),
        "warm_features_phase_seconds": min(features) if features else None,
        "warm_features_images_per_second": round(inputs / min(features), 2) if features and inputs else None,
        "files_per_partition": args.files_per_partition,
        "default_parallelism": parallelism,
        "basis": basis,
        "cold": cold,
        "warm": warm,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path)
    source.add_argument("--manifest", type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument(
        "--pca-model-dir", type=Path, help="the PCA registry (default <output>/pca_models, i.e. none)"
    )
    parser.add_argument("--backend", choices=BACKENDS, default=LITERT)
    parser.add_argument("--warm-runs", type=int, default=1)
    parser.add_argument("--empty", action="store_true", help="a batch of no files (the job's fixed cost)")
    parser.add_argument(
        "--fit-basis",
        action="store_true",
        help="after the runs, fit a basis over the output store (variance 0.95) and promote it",
    )
    parser.add_argument(
        "--min-images", type=int, default=PCA_MIN_IMAGES, help="--fit-basis: fewest distinct images to fit on"
    )
    parser.add_argument("--files-per-partition", type=int, default=FILES_PER_PARTITION)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--arrow-batch-rows", type=int, default=BATCH_SIZE)
    parser.add_argument("--result", required=True, type=Path)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    result = measure(args)
    args.result.write_text(json.dumps(result, indent=2))
    shown = {k: v for k, v in result.items() if k not in ("cold", "warm")}
    print(json.dumps(shown, indent=2), flush=True)


if __name__ == "__main__":
    main()
