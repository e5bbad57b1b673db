"""``python -m bench`` (``make bench``): the side-by-side benchmark, one run, same images.

First a PCA basis for the production batches: a features-only job over up to 2,000 distinct sample
images, then a basis fitted over its store (``fit_over_store``, k by the 0.95 variance target) and
promoted. For each dataset (small Fruits-360 images, synthetic 12 MP photos): 1. the model alone on
pre-decoded tensors, 2. this project's pipeline as a production batch projecting on that basis (a cold
process with an empty model cache, then a warm repeat; LiteRT, and again with Keras), 3. the reference
re-implementation, each in its own process with the memory and CPU of its process tree sampled. Then
cold jobs of 0, 1, 10, 100 and 1,000 images (fixed and marginal cost), a per-stage profile, and
``bench/results/<date>.json`` + ``.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import datasets, machine, report
from bench.measure import REPO_ROOT, ChildResult, run_child
from spark_app.core.defaults import PCA_MIN_IMAGES

RESULTS_DIR = REPO_ROOT / "bench" / "results"
QUICK_SMALL, QUICK_LARGE = 300, 10
BASIS_IMAGES = 2000
BATCH_SIZES = (0, 1, 10, 100, 1000)
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
    parser.add_argument("--skip-keras", action="store_true", help="skip ours with the Keras backend")
    parser.add_argument("--skip-batch-sizes", action="store_true", help="skip the batch-size sweep")
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


def _child(name: str, module: str, args: list[str], work: Path, env: dict[str, str] | None = None) -> dict:
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result: ChildResult = run_child(name, module, args, logs / f"{name}.json", logs / f"{name}.log", env)
    summary = {
        k: v
        for k, v in result.result.items()
        if k not in ("summary", "cprofile_top_own_time", "cold", "warm", "phases")
    }
    print(
        f"[bench] {name}: ok={result.ok} wall {result.wall_seconds}s cpu {result.cpu_seconds}s "
        f"rss {result.rss_peak_mib} {json.dumps(summary)[:500]}",
        flush=True,
    )
    return asdict(result)


def _cold_cache(work: Path, name: str) -> dict[str, str]:
    """A fresh, empty model cache for a child: every measurement of ours starts cold."""
    cache = work / "caches" / name
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    return {"FRUITS_CACHE_DIR": str(cache)}


def _ours(name: str, args: argparse.Namespace, source: list[str], options: list[str]) -> dict:
    """One process of this pipeline (a cold job), with its own output folder and empty cache."""
    output = args.work_dir / "out" / name
    return _child(
        name,
        "bench.ours",
        [*source, "--output", str(output), *options],
        args.work_dir,
        _cold_cache(args.work_dir, name),
    )


def prepare_basis(args: argparse.Namespace) -> tuple[Path, dict]:
    """A promoted PCA basis for the production batches: (its registry, the child's run).

    A features-only job over up to 2,000 sample images (distinct ones: the fit deduplicates by image id
    and wants 4 images per component), then, in the same process, ``fit_over_store`` on its store (k by
    the 0.95 variance target) and ``promote``.
    """
    data = datasets.make_small(args.work_dir, BASIS_IMAGES)
    manifest = datasets.write_manifest(data, data.files, args.work_dir / "manifests")
    options = ["--warm-runs", "0", "--fit-basis", "--min-images", str(min(PCA_MIN_IMAGES, data.files))]
    run = _ours("basis", args, ["--manifest", str(manifest)], options)
    if not run["ok"] or not run["result"].get("basis"):
        raise SystemExit("[bench] could not fit the PCA basis the production runs need")
    return Path(run["result"]["basis"]["model_dir"]), run


def run_dataset(name: str, data: datasets.Dataset, args: argparse.Namespace, basis: Path) -> dict[str, dict]:
    """Model alone, ours (LiteRT, then Keras), model alone again, the reference, for one dataset."""
    root = str(data.root)
    production = ["--pca-model-dir", str(basis)]
    runs = {"limit": _child(f"{name}-limit", "bench.limit", ["--input", root], args.work_dir)}
    runs["ours"] = _ours(f"{name}-ours", args, ["--input", root], [*production, "--warm-runs", "1"])
    if not args.skip_keras:
        # Same pipeline, TensorFlow instead of LiteRT: separates the runtime from the pipeline's design.
        runs["ours_keras"] = _ours(
            f"{name}-ours-keras",
            args,
            ["--input", root],
            [*production, "--backend", "keras", "--warm-runs", "0"],
        )
    # The machine is shared: the limit is measured again after ours, and the two are averaged.
    runs["limit_after"] = _child(f"{name}-limit-after", "bench.limit", ["--input", root], args.work_dir)
    if not args.skip_reference:
        runs["reference"] = _child(
            f"{name}-reference",
            "bench.reference",
            ["--input", root, "--output", str(args.work_dir / "out" / f"{name}-reference")],
            args.work_dir,
        )
    return runs


def batch_sizes(small: datasets.Dataset, args: argparse.Namespace, basis: Path) -> dict[str, dict]:
    """Cold jobs (one process each) of 0, 1, 10, 100 and 1,000 small images: fixed and marginal cost."""
    runs = {}
    for n in BATCH_SIZES:
        manifest = datasets.write_manifest(small, max(1, n), args.work_dir / "manifests")
        empty = ["--empty"] if n == 0 else []
        options = ["--pca-model-dir", str(basis), "--warm-runs", "0", *empty]
        runs[str(n)] = _ours(f"batch-{n}", args, ["--manifest", str(manifest)], options)
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
    basis, basis_run = prepare_basis(args)
    runs = {
        "small": run_dataset("small", small, args, basis),
        "large": run_dataset("large", large, args, basis),
    }
    sweep = {} if args.skip_batch_sizes else batch_sizes(small, args, basis)
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
        "basis": basis_run,
        "runs": runs,
        "batch_sizes": sweep,
        "profile": stages,
    }
    results["ratios"] = report.ratios(runs, sweep)
    results["targets"] = [t.as_dict() for t in report.targets(runs, sweep)]
    table = report.markdown(results)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"{results['date']}.json"
    md_path = args.results_dir / f"{results['date']}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(table)
    print("\n" + table)
    print(f"[bench] wrote {json_path} and {md_path} in {results['total_seconds']} s", flush=True)
    failed = [f"{d}/{n}" for d, by in [*runs.items(), ("batch", sweep)] for n, r in by.items() if not r["ok"]]
    if failed:
        print(f"[bench] failed measurements: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
