"""Profile: where a Python worker of this project's pipeline spends its time, without Spark.

In one process with the default LiteRT extractor (1 thread, as each pipeline worker has),
times each stage of :func:`spark_app.job.extract.extract_batch` (the worker's read, then the core's
``extract_contents``) on the dataset's files: read, decode (``decode_image``), preprocess, sha256
(image id), inference; then the whole ``extract_batch`` on the same 32-row frames, and a cProfile of
it (top functions by own time).

``python -m bench.stages --input DIR --images N --result OUT.json``
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spark_app.core.decode import decode_image, preprocess
from spark_app.core.defaults import BATCH_SIZE
from spark_app.core.labels import label_from_relative_path
from spark_app.core.model import LITERT, build_extractor
from spark_app.job.extract import ExtractSettings, extract_batch
from spark_app.models.weights import DEFAULT_WEIGHTS, expected_sha256, prepare_payload
from spark_app.store.objects import read_bytes


def _ms(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "mean": round(statistics.fmean(values), 3)}


def _top_functions(profile: cProfile.Profile, limit: int = 12) -> list[dict[str, object]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls": calls,
                "own_s": round(tottime, 3),
                "cumulative_s": round(cumtime, 3),
            }
        )
    return sorted(rows, key=lambda r: r["own_s"], reverse=True)[:limit]


def measure(root: Path, n: int, batch_size: int = BATCH_SIZE) -> dict[str, object]:
    """Per-image stage timings (ms) and the extract_batch overhead on ``n`` files."""
    files = sorted(p for p in root.rglob("*") if p.is_file())[:n]
    payload = prepare_payload(DEFAULT_WEIGHTS, expected_sha256(DEFAULT_WEIGHTS, None), LITERT, 1)
    extractor = build_extractor(payload)
    extractor.extract(np.zeros((2, 224, 224, 3), np.float32))  # warm-up
    timings: dict[str, list[float]] = {k: [] for k in ("read", "decode", "preprocess", "sha256")}
    tensors = []
    for path in files:
        t0 = time.perf_counter()
        data = read_bytes(str(path))
        t1 = time.perf_counter()
        image = decode_image(data)
        t2 = time.perf_counter()
        tensor = preprocess(image.pixels)
        t3 = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        t4 = time.perf_counter()
        tensors.append(tensor)
        for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            value_ms = value * 1000
            timings[key].append(value_ms)
    stacked = np.stack(tensors)
    t0 = time.perf_counter()
    for start in range(0, len(stacked), batch_size):
        extractor.extract(stacked[start : start + batch_size])
    inference_ms = (time.perf_counter() - t0) * 1000 / len(stacked)

    frame = pd.DataFrame(
        {
            "path": [str(p) for p in files],
            "label": [label_from_relative_path(p.relative_to(root).as_posix()) for p in files],
        }
    )
    settings = ExtractSettings(batch_size=batch_size)
    t0 = time.perf_counter()
    for start in range(0, len(frame), batch_size):
        extract_batch(frame.iloc[start : start + batch_size], extractor, settings)
    extract_batch_ms = (time.perf_counter() - t0) * 1000 / len(frame)
    profile = cProfile.Profile()
    profile.enable()
    for start in range(0, len(frame), batch_size):
        extract_batch(frame.iloc[start : start + batch_size], extractor, settings)
    profile.disable()

    stage_ms = {key: _ms(values) for key, values in timings.items()}
    stage_ms["inference"] = {"median": round(inference_ms, 3), "mean": round(inference_ms, 3)}
    sum_of_stages = sum(v["mean"] for v in stage_ms.values())
    return {
        "images": len(files),
        "stage_ms_per_image": stage_ms,
        "sum_of_stages_ms": round(sum_of_stages, 3),
        "extract_batch_ms_per_image": round(extract_batch_ms, 3),
        "one_core_images_per_second": round(1000 / extract_batch_ms, 2),
        "inference_share": round(inference_ms / extract_batch_ms, 4),
        "cprofile_top_own_time": _top_functions(profile),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    result = measure(args.input, args.images)
    args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
