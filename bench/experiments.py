"""Follow-up measurements of this pipeline after ``python -m bench`` (same datasets, same machine).

Settings a deployment can choose without code changes, measured to size what limits the
pipeline: the PCA reused instead of fitted (what the state machine does with ``--pca-model
latest`` after the first batch), and bigger Arrow batches of input paths. Writes
``bench/results/<date>-experiments.json`` and ``.md``.

``python -m bench.experiments [--small 10000 --large 200]``
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import machine
from bench.measure import REPO_ROOT, run_child
from bench.report import images_per_cpu_second

RESULTS_DIR = REPO_ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=200)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "bench" / "work")
    args = parser.parse_args()
    work, out, logs = args.work_dir, args.work_dir / "out", args.work_dir / "logs"
    pca_dir = out / "small-ours" / "pca_models"
    if not (pca_dir / "LATEST").is_file():
        parser.error(f"run `python -m bench` first: no fitted PCA in {pca_dir}")
    small, large = work / f"small-{args.small}", work / f"large-{args.large}"
    plans = {
        "small_pca_reused": ["--input", str(small), "--pca-model-dir", str(pca_dir)],
        "small_arrow_1024": ["--input", str(small), "--arrow-batch-rows", "1024"],
        "large_pca_reused": ["--input", str(large), "--pca-model-dir", str(pca_dir)],
    }
    runs = {}
    for name, plan in plans.items():
        result = run_child(
            name,
            "bench.ours",
            [*plan, "--output", str(out / f"exp-{name}")],
            logs / f"exp-{name}.json",
            logs / f"exp-{name}.log",
        )
        runs[name] = asdict(result)
        print(f"[bench] {name}: {result.result.get('images_per_second')} images/s", flush=True)
    date = datetime.now(UTC).date().isoformat()
    results = {"date": date, "machine": machine.describe(), "runs": runs}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{date}-experiments.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# Follow-up measurements {date} (this pipeline, `local[*]`)",
        "",
        "| run | images | seconds | images/s | PCA fit s | images per CPU-s | peak Python worker RSS MiB "
        "| load (1 min) start/end |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        res = run["result"]
        fit = res.get("pca_fit_seconds") if res.get("summary", {}).get("pca_fitted") else None
        lines.append(
            f"| {name} | {res.get('images', '–')} | {res.get('seconds', '–')} "
            f"| {res.get('images_per_second', '–')} "
            f"| {fit if fit is not None else 'reused'} | {images_per_cpu_second(run) or '–'} "
            f"| {run['rss_peak_mib'].get('python_worker', '–')} "
            f"| {'/'.join(str(v) for v in run['load_average'])} |"
        )
    (RESULTS_DIR / f"{date}-experiments.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
