"""``python -m bench`` (``make bench``): the side-by-side benchmark, one run, same images.

For each dataset (small Fruits-360 images, synthetic 12 MP photos): 1. the model alone on
pre-decoded tensors, 2. this project's pipeline, 3. the reference re-implementation, each in
its own process with the Python workers' memory sampled. Then a per-stage profile, and
``bench/results/<date>.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import datasets, machine, report
from bench.measure import REPO_ROOT, ChildResult, run_child

RESULTS_DIR = REPO_ROOT / "bench" / "results"
QUICK_SMALL, QUICK_LARGE = 300, 10
PROFILE_SMALL, PROFILE_LARGE = 640, 40


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="small images (default 10,000)")
    parser.add_argument("--large", type=int, default=200, help="12 MP photos (default 200)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_SMALL} small / {QUICK_LARGE} large, results not written "
        "to bench/results unless --results-dir is given",
    )
    parser.add_argument("--skip-reference", action="store_true", help="skip measurement 3")
    parser.add_argument("--skip-profile", action="store_true", help="skip the per-stage profile")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "bench" / "work")
    parser.add_argument("--results-dir", type=Path, default=None, help="default bench/results")
    args = parser.parse_args(argv)
    if args.quick:
        args.small, args.large = QUICK_SMALL, QUICK_LARGE
    if args.small < 2 or args.large < 2:
        parser.error("--small and --large need at least 2 images (PCA)")
    if args.results_dir is None:
        args.results_dir = args.work_dir / "quick-results" if args.quick else RESULTS_DIR
    return args


def _child(name: str, module: str, args: list[str], work: Path) -> dict:
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result: ChildResult = run_child(name, module, args, logs / f"{name}.json", logs / f"{name}.log")
    summary = {k: v for k, v in result.result.items() if k not in ("summary", "cprofile_top_own_time")}
    print(
        f"[bench] {name}: ok={result.ok} wall {result.wall_seconds}s rss {result.rss_peak_mib} "
        f"{json.dumps(summary)[:400]}",
        flush=True,
    )
    return asdict(result)


def run_dataset(name: str, data: datasets.Dataset, args: argparse.Namespace) -> dict[str, dict]:
    """The three measurements (plus ours with big partitions on the small set) for one dataset."""
    out = args.work_dir / "out"
    root = str(data.root)
    runs = {
        "limit": _child(f"{name}-limit", "bench.limit", ["--input", root], args.work_dir),
        "ours": _child(
            f"{name}-ours",
            "bench.ours",
            ["--input", root, "--output", str(out / f"{name}-ours")],
            args.work_dir,
        ),
    }
    if name == "small":
        # 2 x cores partitions whatever the file count: thousands of files per partition.
        runs["ours_big_partitions"] = _child(
            f"{name}-ours-big-partitions",
            "bench.ours",
            [
                "--input",
                root,
                "--output",
                str(out / f"{name}-ours-big"),
                "--files-per-partition",
                str(data.files),
            ],
            args.work_dir,
        )
    # The machine is shared: the limit is measured again after ours, and the two are averaged.
    runs["limit_after"] = _child(f"{name}-limit-after", "bench.limit", ["--input", root], args.work_dir)
    if not args.skip_reference:
        runs["reference"] = _child(
            f"{name}-reference",
            "bench.reference",
            ["--input", root, "--output", str(out / f"{name}-reference")],
            args.work_dir,
        )
    return runs


def profile(small: datasets.Dataset, large: datasets.Dataset, args: argparse.Namespace) -> dict[str, dict]:
    """Per-stage timings in worker-equivalent processes (ours: LiteRT; reference: Keras)."""
    result = {}
    for name, data, n in (("small", small, PROFILE_SMALL), ("large", large, PROFILE_LARGE)):
        n = min(n, data.files)
        result[f"ours_{name}"] = _child(
            f"{name}-stages-ours",
            "bench.stages",
            ["--input", str(data.root), "--images", str(n)],
            args.work_dir,
        )
        if not args.skip_reference:
            result[f"reference_{name}"] = _child(
                f"{name}-stages-reference",
                "bench.reference",
                ["--input", str(data.root), "--stages", str(n)],
                args.work_dir,
            )
    features = args.work_dir / "out" / "small-ours" / "features"
    probe = ["--rows", str(small.files)] + (["--features", str(features)] if features.is_dir() else [])
    result["pca"] = _child("pca-probe", "bench.pca_probe", probe, args.work_dir)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    load_start = machine.load_average()
    print(f"[bench] datasets in {args.work_dir} (small {args.small}, large {args.large})", flush=True)
    small = datasets.make_small(args.work_dir, args.small)
    large = datasets.make_large(args.work_dir, args.large)
    runs = {"small": run_dataset("small", small, args), "large": run_dataset("large", large, args)}
    stages = {} if args.skip_profile else profile(small, large, args)
    results = {
        "date": started_at.date().isoformat(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine.describe(),
        "load_average_start": load_start,
        "load_average_end": machine.load_average(),
        "datasets": {"small": small.as_dict(), "large": large.as_dict()},
        "runs": runs,
        "profile": stages,
    }
    results["ratios"] = report.ratios(runs)
    results["targets"] = [t.as_dict() for t in report.targets(runs)]
    table = report.markdown(results)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"{results['date']}.json"
    md_path = args.results_dir / f"{results['date']}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(table)
    print("\n" + table)
    print(f"[bench] wrote {json_path} and {md_path} in {results['total_seconds']} s", flush=True)
    failed = [f"{d}/{n}" for d, by in runs.items() for n, r in by.items() if not r["ok"]]
    if failed:
        print(f"[bench] failed measurements: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
