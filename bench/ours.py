"""Measurement 2: this project's pipeline end to end (``spark_app.pipeline.run``, ``local[*]``).

Times ``run()`` from listing to the last Parquet file (features + PCA fit/transform + errors +
run summary); the Spark session is started before the clock (as for the reference).

``python -m bench.ours --input DIR --output DIR --result OUT.json [--files-per-partition N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from spark_app import pipeline
from spark_app.features import DEFAULT_BATCH_SIZE
from spark_app.pipeline import DEFAULT_FILES_PER_PARTITION, RunConfig, run
from spark_app.session import build_session


def _record_phases(events: list[tuple[float, str]]) -> None:
    """Timestamp the pipeline's progress messages (phase breakdown without touching spark_app)."""
    original = pipeline._log

    def log(message: str) -> None:
        events.append((time.perf_counter(), message))
        original(message)

    pipeline._log = log
    for name in ("fit_pca", "save_pca", "_write_partition"):
        setattr(pipeline, name, _timed(getattr(pipeline, name), name, events))


def _timed(fn, name: str, events: list[tuple[float, str]]):
    """``fn`` recording its start and end as events."""

    def wrapper(*args, **kwargs):
        events.append((time.perf_counter(), f"{name} start"))
        try:
            return fn(*args, **kwargs)
        finally:
            events.append((time.perf_counter(), f"{name} end"))

    return wrapper


def measure(
    input_dir: Path,
    output_dir: Path,
    files_per_partition: int,
    pca_k: int | None,
    master: str,
    arrow_batch_rows: int = DEFAULT_BATCH_SIZE,
    pca_model_dir: Path | None = None,
) -> dict[str, object]:
    """One pipeline run; returns the timing and the pipeline's own summary."""
    if output_dir.exists():
        shutil.rmtree(output_dir)
    started = time.perf_counter()
    spark = build_session("bench-ours", master=master, arrow_batch_rows=arrow_batch_rows)
    session_seconds = time.perf_counter() - started
    config = RunConfig(
        output=str(output_dir.resolve()),
        input=str(input_dir.resolve()),
        batch_id="bench",
        files_per_partition=files_per_partition,
        pca_k=pca_k,
        master=master,
        # Production mode (the state machine passes --pca-model latest): reuse a fitted PCA.
        pca_model="latest" if pca_model_dir else None,
        pca_model_dir=str(pca_model_dir.resolve()) if pca_model_dir else None,
    )
    events: list[tuple[float, str]] = []
    _record_phases(events)
    try:
        started = time.perf_counter()
        summary = run(config, spark)
        seconds = time.perf_counter() - started
        parallelism = spark.sparkContext.defaultParallelism
    finally:
        spark.stop()
    fit = summary.pca_fit_seconds or 0.0
    return {
        "images": summary.inputs,
        "ok_images": summary.images,
        "errors": summary.errors,
        "seconds": round(seconds, 3),
        "images_per_second": round(summary.inputs / seconds, 2),
        "session_start_seconds": round(session_seconds, 3),
        "pca_fit_seconds": summary.pca_fit_seconds,
        "pca_share_of_total": round(fit / seconds, 4),
        "seconds_without_pca_fit": round(seconds - fit, 3),
        "files_per_partition": files_per_partition,
        "arrow_batch_rows": arrow_batch_rows,
        "pca_model_dir": str(pca_model_dir) if pca_model_dir else None,
        "default_parallelism": parallelism,
        "master": master,
        "phases": [{"at_seconds": round(t - started, 3), "message": m} for t, m in events],
        "summary": asdict(summary),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--files-per-partition", type=int, default=DEFAULT_FILES_PER_PARTITION)
    parser.add_argument("--pca-k", type=int, default=None, help="default: the pipeline's variance target")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument(
        "--arrow-batch-rows", type=int, default=DEFAULT_BATCH_SIZE, help="as the CLI does: the batch size"
    )
    parser.add_argument("--pca-model-dir", type=Path, help="reuse the latest PCA saved there (no fit)")
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    result = measure(
        args.input,
        args.output,
        args.files_per_partition,
        args.pca_k,
        args.master,
        args.arrow_batch_rows,
        args.pca_model_dir,
    )
    args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "summary"}, indent=2), flush=True)


if __name__ == "__main__":
    main()
