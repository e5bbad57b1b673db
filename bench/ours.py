"""Measurement 2: this project's pipeline, run as a deployed batch runs it, cold then warm.

One process is one job, as on EMR Serverless: Python start and imports, the Spark session (JVM),
the model payload, then the batch. Recorded in one process:

* **whole process, cold**: from the process's creation (psutil) to the end of the batch's run, with
  a fresh model cache (``FRUITS_CACHE_DIR`` is set to an empty folder by the caller);
* **the batch's run, cold**: ``run()`` only, the session already started;
* **warm runs** (steady state): the same batch again in the same session, whose Python workers
  already hold the model; their **features phase** is the single pass (from the pipeline's
  "files in N partitions" log line to its "features:" line).

``--pca-model-dir`` (a promoted basis) gives the production single pass; without it the batch fits
its own basis (two passes, ``--pca-fit-any-size``). ``--empty`` runs a batch of no files: the fixed
cost of a job. ``--promote`` promotes the basis the run fitted (to prepare the production runs).

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
from spark_app.backends import BACKENDS, LITERT
from spark_app.features import DEFAULT_BATCH_SIZE
from spark_app.pipeline import DEFAULT_FILES_PER_PARTITION, RunConfig, execute, prepare
from spark_app.models.registry import promote
from spark_app.job.session import build_session
from spark_app.subcommands import configure_logging

PHASE_START, PHASE_END = "files in", "features:"


class _Phases(logging.Handler):
    """Timestamps of the pipeline's log lines (``fruits`` logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((time.perf_counter(), record.getMessage()))

    def features_phase(self, since: float) -> float | None:
        """Seconds of the last run's single pass (or extraction + count), from its log lines."""
        events = [(t, m) for t, m in self.events if t >= since]
        start = next((t for t, m in events if PHASE_START in m), None)
        end = next((t for t, m in events if m.startswith(PHASE_END)), None)
        return round(end - start, 3) if start is not None and end is not None else None


def _process_age() -> float:
    """Seconds since this process was created (the whole process's clock)."""
    return time.time() - psutil.Process().create_time()


def _config(args: argparse.Namespace) -> RunConfig:
    production = args.pca_model_dir is not None
    return RunConfig(
        output=str(args.output.resolve()),
        input=str(args.input.resolve()) if args.input else None,
        manifest=str(args.manifest.resolve()) if args.manifest else None,
        batch_id="bench",
        backend=args.backend,
        files_per_partition=args.files_per_partition,
        master=args.master,
        batch_size=args.arrow_batch_rows,
        pca_model="latest" if production else None,
        pca_model_dir=str(args.pca_model_dir.resolve()) if production else None,
        pca_fit_any_size=not production,
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
    try:
        prepared = prepare(_config(args))
        if args.empty:
            prepared = dataclasses.replace(prepared, items=[])
        cold = _run(prepared, spark, phases)
        whole_process, cold_cpu = _process_age(), tree_cpu_seconds(os.getpid())
        warm = [_run(prepared, spark, phases) for _ in range(args.warm_runs)]
        warm_cpu = tree_cpu_seconds(os.getpid()) - cold_cpu
        parallelism = spark.sparkContext.defaultParallelism
    finally:
        spark.stop()
    inputs = len(prepared.items)
    if args.promote:
        fitted = cold["summary"]["pca_version"]
        promote(str(Path(cold["summary"]["pca_model_path"]).parent), fitted)
    features = [w["features_phase_seconds"] for w in warm if w["features_phase_seconds"]]
    return {
        "images": inputs,
        "ok_images": cold["summary"]["images"],
        "backend": args.backend,
        "mode": "single pass" if args.pca_model_dir else "fit (two passes)",
        "imports_seconds": round(imports_done, 3),
        "session_start_seconds": round(session_seconds, 3),
        "whole_process_seconds": round(whole_process, 3),
        "whole_process_images_per_second": round(inputs / whole_process, 2) if inputs else None,
        "cold_cpu_seconds": round(cold_cpu, 2),
        "warm_cpu_seconds_per_image": round(warm_cpu / (inputs * len(warm)), 5) if warm and inputs else None,
        # The batch's run with the session started (cold workers): the figure reported before.
        "seconds": cold["seconds"],
        "images_per_second": cold["images_per_second"],
        "pca_fit_seconds": cold["summary"]["pca_fit_seconds"],
        "warm_seconds": [w["seconds"] for w in warm],
        "warm_images_per_second": max((w["images_per_second"] or 0 for w in warm), default=None),
        "warm_features_phase_seconds": min(features) if features else None,
        "warm_features_images_per_second": round(inputs / min(features), 2) if features and inputs else None,
        "files_per_partition": args.files_per_partition,
        "default_parallelism": parallelism,
        "cold": cold,
        "warm": warm,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path)
    source.add_argument("--manifest", type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--pca-model-dir", type=Path, help="promoted basis there: the production single pass")
    parser.add_argument("--backend", choices=BACKENDS, default=LITERT)
    parser.add_argument("--warm-runs", type=int, default=1)
    parser.add_argument("--empty", action="store_true", help="a batch of no files (the job's fixed cost)")
    parser.add_argument("--promote", action="store_true", help="promote the basis this run fitted")
    parser.add_argument("--files-per-partition", type=int, default=DEFAULT_FILES_PER_PARTITION)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--arrow-batch-rows", type=int, default=DEFAULT_BATCH_SIZE)
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
