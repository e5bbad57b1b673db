"""Measurement 1, the limit: the default (LiteRT) model alone on pre-decoded tensors.

Decodes the dataset's distinct images once (the small set is hard links of 1,900 files),
then runs inference over as many images as the dataset has files (at least 2,000, cycling) with the pipeline's
layout: ``--processes`` forked processes (default 2 = the cores), one thread each, batches
of 32. Only the inference is timed, from a common start barrier to the last process's end.

``python -m bench.limit --input DIR --result OUT.json``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

import numpy as np

from spark_app.core.decode import decode_image, preprocess
from spark_app.core.defaults import BATCH_SIZE
from spark_app.core.model import LITERT, build_extractor
from spark_app.models.weights import DEFAULT_WEIGHTS, expected_sha256, prepare_payload

MAX_DISTINCT = 2000
MIN_TIMED_IMAGES = 2000  # small datasets are cycled so that the timing is not noise
WARMUP_BATCHES = 2

_TENSORS: np.ndarray | None = None  # shared with forked workers (copy-on-write)


def distinct_files(root: Path, limit: int = MAX_DISTINCT) -> tuple[list[Path], int]:
    """Up to ``limit`` files with distinct inodes (hard links count once), and the total count."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    seen: set[tuple[int, int]] = set()
    distinct = []
    for path in files:
        st = path.stat()
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            distinct.append(path)
    return distinct[:limit], len(files)


def _worker(payload, indices: list[int], batch_size: int, barrier, queue) -> None:
    extractor = build_extractor(payload)
    assert _TENSORS is not None
    for _ in range(WARMUP_BATCHES):
        extractor.extract(_TENSORS[:batch_size])
    barrier.wait()
    started = time.perf_counter()
    for start in range(0, len(indices), batch_size):
        extractor.extract(_TENSORS[indices[start : start + batch_size]])
    queue.put((os.getpid(), len(indices), started, time.perf_counter()))


def measure(root: Path, processes: int, batch_size: int) -> dict[str, object]:
    """Decode, then time inference over the dataset's file count on ``processes`` processes."""
    global _TENSORS
    payload = prepare_payload(DEFAULT_WEIGHTS, expected_sha256(DEFAULT_WEIGHTS, None), LITERT, 1)
    distinct, total = distinct_files(root)
    decode_ms = []
    tensors = np.empty((len(distinct), 224, 224, 3), dtype=np.float32)
    for i, path in enumerate(distinct):
        started = time.perf_counter()
        tensors[i] = preprocess(decode_image(path.read_bytes()).pixels)
        decode_ms.append((time.perf_counter() - started) * 1000.0)
    _TENSORS = tensors
    timed = max(total, MIN_TIMED_IMAGES)
    order = [i % len(distinct) for i in range(timed)]
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(payload, order[p::processes], batch_size, barrier, queue))
        for p in range(processes)
    ]
    for w in workers:
        w.start()
    reports = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    if any(w.exitcode != 0 for w in workers):
        raise RuntimeError("a model worker failed")
    start, end = min(r[2] for r in reports), max(r[3] for r in reports)
    seconds = end - start
    return {
        "backend": payload.backend,
        "model_version": payload.model_version,
        "images": total,
        "timed_images": timed,
        "distinct_images": len(distinct),
        "processes": processes,
        "threads_per_process": payload.num_threads,
        "batch_size": batch_size,
        "seconds": round(seconds, 3),
        "images_per_second": round(timed / seconds, 2),
        "per_process_images_per_second": [round(r[1] / (r[3] - r[2]), 2) for r in reports],
        "decode_ms_median": round(statistics.median(decode_ms), 3),
        "decode_ms_mean": round(statistics.fmean(decode_ms), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    result = measure(args.input, args.processes, args.batch_size)
    args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
