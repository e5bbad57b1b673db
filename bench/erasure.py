"""``python -m bench.erasure``: how long one identity's erasure takes, by store size, on this machine.

A synthetic store in the production's layout (``features/`` and ``errors/`` partitioned by batch id,
Parquet files as Spark writes them: 1280-float features, 128-float PCA, the prediction columns; one
manifest per batch), ``--batch-images`` images per batch, every upload an app identity's. The erased
identity has ``--photos`` photos spread over as many batches (its uploads, answers and corrections
exist too). One erasure pass (``spark_app.store.erasure.erase_pass``, hold 0) is timed per step, for
each size, on the local file system. The time is then fitted as ``a + b * images`` (least squares) and
extrapolated to 100,000 images. Writes ``bench/results/<stem>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from spark_app.core.erasure import Layout
from spark_app.store.erasure import ErasureRequest, erase_pass

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
ERASED = "eu-west-3:00000000-0000-4000-8000-0000000000ee"
TARGET_IMAGES = 100_000
STEPS = ("tombstone", "objects", "manifests", "rows", "records")


def identity(n: int) -> str:
    return f"eu-west-3:{n:08x}-0000-4000-8000-000000000000"


def batch_table(rows: list[tuple[str, str]], rng: np.random.Generator) -> Any:
    """One batch's features as Spark writes them (the columns that weigh: features, pca)."""
    import pyarrow as pa

    n = len(rows)
    floats = pa.list_(pa.float32())
    return pa.table(
        {
            "image_id": [i for _, i in rows],
            "path": [p for p, _ in rows],
            "label": pa.array([None] * n, pa.string()),
            "width": pa.array([100] * n, pa.int32()),
            "height": pa.array([100] * n, pa.int32()),
            "features": pa.array(list(rng.random((n, 1280), dtype=np.float32)), floats),
            "pca": pa.array(list(rng.random((n, 128), dtype=np.float32)), floats),
            "model_version": ["mobilenet_v2"] * n,
            "processed_at": pa.array([datetime(2026, 12, 2, tzinfo=UTC)] * n, pa.timestamp("us")),
            "predicted_label": ["Kiwi"] * n,
            "confidence": pa.array([0.9] * n, pa.float32()),
            "top3_labels": [["Kiwi", "Lemon", "Lime"]] * n,
        }
    )


def build_store(root: Path, images: int, batch_images: int, photos: int, seed: int = 0) -> Layout:
    """A store of ``images`` rows; ``photos`` of them the erased identity's, one per batch."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    layout = Layout(
        store=str(root / "store"),
        ingest=str(root / "ingest"),
        answers=str(root / "answers"),
        manifests=str(root / "manifests"),
    )
    batches = max(1, images // batch_images)
    for b in range(batches):
        rows = []
        for i in range(batch_images):
            owner = ERASED if (i == 0 and b < photos) else identity(b * batch_images + i)
            key = f"uploads/{owner}/p{b}-{i}.jpg"
            rows.append((f"s3://ingest/{key}", hashlib.sha256(key.encode()).hexdigest()))
            if owner == ERASED:
                for path in (root / "ingest" / key, root / "answers" / f"{key}.json"):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"x" * 2048)
        folder = root / "store" / "features" / f"batch_id=b{b:05d}"
        folder.mkdir(parents=True)
        pq.write_table(
            batch_table(rows, rng), folder / "part-00000.parquet", use_deprecated_int96_timestamps=True
        )
        manifest = "".join(json.dumps({"uri": p, "size": 2048}) + "\n" for p, _ in rows)
        (root / "manifests").mkdir(exist_ok=True)
        (root / "manifests" / f"b{b:05d}.jsonl").write_text(manifest)
    return layout


def store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "store").rglob("*") if p.is_file())


def one_pass(root: Path, layout: Layout) -> tuple[float, dict[str, float], Any]:
    """One erasure pass over a fresh copy of the store: (seconds, seconds per step, receipt)."""
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root / "seed", work)
    moved = Layout(**{k: str(v).replace(str(root / "seed"), str(work)) for k, v in vars(layout).items()})
    marks: dict[str, float] = {}
    started = time.perf_counter()
    receipt = erase_pass(
        ErasureRequest(ERASED, moved, hold_seconds=0),
        hook=lambda step: marks.__setitem__(step, time.perf_counter()),
    )
    total = time.perf_counter() - started
    previous, steps = started, {}
    for step in STEPS:
        steps[step] = round(marks[step] - previous, 4)
        previous = marks[step]
    return total, steps, receipt


def measure(images: int, batch_images: int, photos: int, repeat: int) -> dict[str, Any]:
    """Build a store, erase the identity ``repeat`` times (each on a fresh copy); the median pass."""
    root = Path(tempfile.mkdtemp(prefix="fruits-bench-erasure-"))
    try:
        layout = build_store(root / "seed", images, batch_images, photos)
        size = store_bytes(root / "seed")
        runs = sorted((one_pass(root, layout) for _ in range(repeat)), key=lambda run: run[0])
        total, steps, receipt = runs[len(runs) // 2]
        return {
            "images": images,
            "batches": max(1, images // batch_images),
            "store_mb": round(size / 1e6, 1),
            "seconds": round(total, 3),
            "runs_s": [round(run[0], 3) for run in runs],
            "steps_s": steps,
            "status": receipt.status,
            "counts": receipt.counts,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fit(points: list[dict[str, Any]]) -> dict[str, float]:
    """Least squares ``seconds = a + b * images``; the extrapolation to 100,000 images."""
    x = np.array([p["images"] for p in points], dtype=float)
    y = np.array([p["seconds"] for p in points], dtype=float)
    b, a = np.polyfit(x, y, 1)
    predicted = a + b * TARGET_IMAGES
    mb = np.array([p["store_mb"] for p in points], dtype=float)
    return {
        "a_s": round(float(a), 3),
        "b_ms_per_1000_images": round(float(b) * 1e6, 2),
        "predicted_100k_s": round(float(predicted), 1),
        "store_mb_per_1000_images": round(float(np.mean(mb / x * 1000)), 2),
        "predicted_100k_store_mb": round(float(np.mean(mb / x)) * TARGET_IMAGES, 0),
        "r2": round(float(1 - np.sum((y - (a + b * x)) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12)), 4),
    }


def markdown(result: dict[str, Any]) -> str:
    m, f = result["machine"], result["fit"]
    lines = [
        f"# Erasure of one identity ({result['date']})",
        "",
        f"`python -m bench.erasure` on {m['cpus']} CPUs ({m['arch']}), Python {m['python']}, local file "
        f"system, 1-min load {m['load']:.2f} at the end (a shared machine). {result['batch_images']} images "
        f"per batch; the erased identity has {result['photos']} photos, one per batch. One pass, hold 0; the "
        f"median of {result['repeat']} passes, each on a fresh copy of the store (the copy is not timed; its "
        "files are in the page cache: a local disk's best case).",
        "",
        "| images | batches | store MB | pass s | tombstone | objects | manifests | rows | records |"
        " s per 1,000 images | vs smallest (time / size) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    first = result["points"][0]
    for p in result["points"]:
        s = p["steps_s"]
        ratio = f"{p['seconds'] / first['seconds']:.2f} / {p['images'] / first['images']:.2f}"
        lines.append(
            f"| {p['images']:,} | {p['batches']} | {p['store_mb']} | {p['seconds']:.2f} | "
            + " | ".join(f"{s[k]:.2f}" for k in STEPS)
            + f" | {p['seconds'] / p['images'] * 1000:.3f} | {ratio} |"
        )
    lines += [
        "",
        f"Fit `seconds = a + b * images`: a = {f['a_s']} s, b = {f['b_ms_per_1000_images'] / 1000:.3f} s per"
        f" 1,000 images (R^2 {f['r2']}). **100,000 images: {f['predicted_100k_s']} s** for one pass"
        f" ({f['predicted_100k_store_mb']:.0f} MB of Parquet read; the rows step reads every file, it is"
        " the term that grows). See docs/gdpr.md for what this means on AWS.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.erasure", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="2000,5000,10000", help="store sizes in images (default 2000,5000,10000)"
    )
    parser.add_argument("--batch-images", type=int, default=500, help="images per batch (default 500)")
    parser.add_argument("--photos", type=int, default=4, help="the erased identity's photos (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="passes per size (median)")
    parser.add_argument("--stem", default=f"{datetime.now(UTC):%Y-%m-%d}-erasure", help="results file name")
    args = parser.parse_args(argv)
    points = [measure(int(n), args.batch_images, args.photos, args.repeat) for n in args.sizes.split(",")]
    result = {
        "date": f"{datetime.now(UTC):%Y-%m-%dT%H:%M}Z",
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "load": os.getloadavg()[0],
        },
        "batch_images": args.batch_images,
        "photos": args.photos,
        "repeat": args.repeat,
        "points": points,
        "fit": fit(points),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{args.stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS_DIR / f"{args.stem}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
