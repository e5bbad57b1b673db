"""``python -m bench.answer_latency``: how fast the answer Lambda answers one photo, measured on this machine.

1. **Cold init**, in fresh processes (as many as ``--cold``): the interpreter's start, the handler's imports
   and its runtime (the pinned LiteRT model read, checksum-verified and built; the S3 client; the heads)
   - the part of the Lambda INIT phase that is ours.
2. **Warm, per photo**, in one process after its init, with a promoted PCA basis and classifier of the
   production's shape: read the file, then decode + infer + heads + the answer document
   (``lambdas.answer.service``), on 100 thumbnails (``bench.datasets.make_small``) and 20 synthetic 12 MP
   photos (``bench.datasets.make_large``), with 1 and 2 inference threads; CPU time and peak memory.
3. **The whole invocation** on an emulated S3 (moto, in-process): the handler with S3's EventBridge event
   (GET the upload, the answer, the conditional PUT of the answer), warm.

Each measurement runs in its own child process. Writes ``bench/results/<date>-answer.json`` and ``.md``.
Targets (issue 17): warm <= 100 ms per thumbnail and <= 300 ms per 12 MP photo inside the function, cold
init <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import datasets

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
THUMBNAILS, PHOTOS = 100, 20
#: The registries' shape in production: 38 Fruits-360 classes over a 128-component basis.
CLASSES, COMPONENTS = 38, 128
TARGETS_MS = {"thumbnail": 100.0, "photo_12mp": 300.0}
TARGET_COLD_S = 2.0


# ------------------------------------------------------------------------------- child processes


def child_environment(root: Path) -> dict[str, str]:
    """The answer Lambda's variables, pointing at local folders (no AWS needed for 1 and 2)."""
    return {
        "ANSWERS_ROOT": str(root / "answers"),
        "PCA_MODEL_DIR": str(root / "pca_models"),
        "CLASSIFIER_DIR": str(root / "classifiers"),
        "UPLOADS_PREFIX": "uploads/",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def seed_registries(root: Path) -> dict[str, str]:
    """A promoted basis and a PCA classifier with the production's shape (random arrays: only their size
    matters to the time); returns their versions."""
    import numpy as np

    from spark_app.core.model import PINNED_LITERT_SHA256, PINNED_WEIGHTS_SHA256, model_version  # noqa: F401
    from spark_app.models import registry

    rng = np.random.default_rng(17)
    cnn = model_version(PINNED_WEIGHTS_SHA256)
    fitted = datetime(2026, 12, 3, tzinfo=UTC)
    components, _ = np.linalg.qr(rng.normal(size=(1280, COMPONENTS)))
    basis = registry.new_version_name(registry.PCA_KIND, f"k{COMPONENTS}", fitted)
    registry.save_version(
        str(root / "pca_models"),
        registry.Version(basis, registry.PCA_KIND, fitted.isoformat(), cnn, {}),
        {"components": components.astype(np.float32)},
    )
    registry.promote(str(root / "pca_models"), basis)
    classifier = registry.new_version_name(registry.CLASSIFIER_KIND, "pca", fitted)
    info = {"labels": [f"class-{i:02d}" for i in range(CLASSES)], "features": "pca", "pca_version": basis}
    registry.save_version(
        str(root / "classifiers"),
        registry.Version(classifier, registry.CLASSIFIER_KIND, fitted.isoformat(), cnn, info),
        {"weights": rng.normal(size=(CLASSES, COMPONENTS)), "intercepts": rng.normal(size=CLASSES)},
    )
    registry.promote(str(root / "classifiers"), classifier)
    return {"pca_version": basis, "classifier_version": classifier}


def run_child(mode: str, root: Path, *args: str) -> dict[str, Any]:
    """``python -m bench.answer_latency --child <mode> ...`` in a fresh process; its JSON report."""
    env = {**os.environ, **child_environment(root), "PYTHONPATH": str(REPO_ROOT)}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.answer_latency", "--child", mode, "--root", str(root), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["process_wall_s"] = round(wall, 4)
    return report


def child_cold() -> dict[str, Any]:
    """In a fresh process: the handler module's imports, then its runtime (what the INIT phase runs)."""
    started = time.perf_counter()
    from lambdas.answer import config, log, runtime, service  # noqa: F401

    imported = time.perf_counter()
    built = runtime.build_runtime(config.load_config())
    built.heads.current()  # the first answer reads LATEST and loads the promoted versions
    done = time.perf_counter()
    return {
        "imports_s": round(imported - started, 4),
        "runtime_s": round(done - imported, 4),
        "init_s": round(done - started, 4),
        "heavy_loaded": sorted(m for m in ("pandas", "pyspark", "tensorflow") if m in sys.modules),
    }


def child_warm(files: list[str], threads: int) -> dict[str, Any]:
    """In one process after its init: each photo read and answered, timed (wall and CPU)."""
    import resource

    from lambdas.answer import config, runtime
    from lambdas.answer.service import answer_document, read_upload
    from spark_app.core.model import PINNED_LITERT_NAME, build_extractor, pinned_payload

    built = runtime.build_runtime(config.load_config())
    if threads != 1:
        payload = pinned_payload(
            (runtime.PACKAGED_MODELS / PINNED_LITERT_NAME).read_bytes(), num_threads=threads
        )
        extractor = build_extractor(payload)
    else:
        extractor = built.extractor
    heads = built.heads.current()
    answer_document(read_upload(files[0], 10**9), extractor, heads, built.model_version)  # first touch
    rows = []
    for path in files:
        started, cpu_started = time.perf_counter(), time.process_time()
        content = read_upload(path, 10**9)
        read_done = time.perf_counter()
        answer, _ = answer_document(content, extractor, heads, built.model_version)
        rows.append(
            {
                "read_ms": (read_done - started) * 1000.0,
                "answer_ms": (time.perf_counter() - read_done) * 1000.0,
                "total_ms": (time.perf_counter() - started) * 1000.0,
                "cpu_ms": (time.process_time() - cpu_started) * 1000.0,
                "status": answer["status"],
            }
        )
    return {
        "threads": threads,
        "photos": len(rows),
        "statuses": sorted({r["status"] for r in rows}),
        **{f"{k}_ms": stats([r[f"{k}_ms"] for r in rows]) for k in ("read", "answer", "total", "cpu")},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }


def child_invocation(files: list[str]) -> dict[str, Any]:
    """The handler on S3's EventBridge event with S3 emulated (moto, in-process): GET, answer, PUT."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="eu-west-3")
        for bucket in ("uploads-bench", "results-bench"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        os.environ["ANSWERS_ROOT"] = "s3://results-bench/answers"
        import lambdas.answer.handler as handler

        keys = []
        for i, path in enumerate(files):
            keys.append(f"uploads/bench/{i:04d}{Path(path).suffix}")
            s3.put_object(Bucket="uploads-bench", Key=keys[-1], Body=Path(path).read_bytes())
        template = json.loads(
            (REPO_ROOT / "tests" / "lambdas" / "events" / "eventbridge-object-created.json").read_text()
        )
        context = _Context()
        handler.handler(_event(template, keys[0], files[0]), context)  # warm the container
        wall = []
        for key, path in zip(keys, files, strict=True):
            started = time.perf_counter()
            result = handler.handler(_event(template, key, path), context)
            wall.append((time.perf_counter() - started) * 1000.0)
            assert result["written"] or key == keys[0], result
    return {"invocations": len(wall), "handler_ms": stats(wall)}


class _Context:
    function_name = "fruits-answer"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:eu-west-3:123456789012:function:fruits-answer"
    aws_request_id = "00000000-0000-0000-0000-00000000bench"


def _event(template: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    event = json.loads(json.dumps(template))
    event["detail"]["bucket"]["name"] = "uploads-bench"
    event["detail"]["object"].update(key=key, size=Path(path).stat().st_size)
    return event


def stats(values: list[float]) -> dict[str, float]:
    """p50, p95, max and mean of a list of milliseconds."""
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(ordered) > 1 else ordered[0]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


# ------------------------------------------------------------------------------- the benchmark


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, in child processes."""
    root = args.work_dir / "answer"
    root.mkdir(parents=True, exist_ok=True)
    versions = seed_registries(root)
    small = datasets.make_small(args.work_dir, args.thumbnails)
    large = datasets.make_large(args.work_dir, args.photos)
    sets = {
        "thumbnail": sorted(str(p) for p in small.root.rglob("*.jpg")),
        "photo_12mp": sorted(str(p) for p in large.root.rglob("*.jpg")),
    }
    print(
        f"[answer] {len(sets['thumbnail'])} thumbnails, {len(sets['photo_12mp'])} photos of 12 MP", flush=True
    )
    cold = [run_child("cold", root) for _ in range(args.cold)]
    print(f"[answer] cold init: {[c['init_s'] for c in cold]} s", flush=True)
    warm = {}
    for name, files in sets.items():
        for threads in (1, 2):
            listing = root / f"{name}.txt"
            listing.write_text("\n".join(files))
            warm[f"{name}/threads={threads}"] = run_child(
                "warm", root, "--files", str(listing), "--threads", str(threads)
            )
            print(
                f"[answer] warm {name} threads={threads}: {warm[f'{name}/threads={threads}']['total_ms']}",
                flush=True,
            )
    invocation = {}
    for name, files in sets.items():
        listing = root / f"{name}.txt"
        listing.write_text("\n".join(files))
        invocation[name] = run_child("invocation", root, "--files", str(listing))
        print(f"[answer] invocation {name}: {invocation[name]['handler_ms']}", flush=True)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "datasets": {"thumbnail": small.as_dict(), "photo_12mp": large.as_dict()},
        "heads": {**versions, "classes": CLASSES, "components": COMPONENTS},
        "cold": {
            "runs": cold,
            "init_s": stats([c["init_s"] * 1000.0 for c in cold]),
            "process_wall_s": stats([c["process_wall_s"] * 1000.0 for c in cold]),
        },
        "warm": warm,
        "invocation_moto": invocation,
        "targets": {"warm_ms": TARGETS_MS, "cold_init_s": TARGET_COLD_S},
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import psutil

    return {
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def to_markdown(results: dict[str, Any]) -> str:
    """The results as a report."""
    cold, warm, inv = results["cold"], results["warm"], results["invocation_moto"]
    m = results["machine"]
    lines = [
        f"# Answer latency ({results['date'][:10]})",
        "",
        f"`python -m bench.answer_latency` on {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, 1-min load {m['load_average_1min']} at the end (a shared machine). Heads: "
        f"a promoted basis of {COMPONENTS} components and a classifier of {CLASSES} classes over it "
        "(random arrays of the production's shape, loaded through the registry).",
        "",
        "## Cold init (ours: imports + model + client + heads, in a fresh process)",
        "",
        "| run | imports s | runtime s | init s | process wall s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for i, run in enumerate(cold["runs"], 1):
        lines.append(
            f"| {i} | {run['imports_s']:.2f} | {run['runtime_s']:.2f} | {run['init_s']:.2f} | "
            f"{run['process_wall_s']:.2f} |"
        )
    ok = cold["init_s"]["p50"] / 1000.0 <= TARGET_COLD_S
    lines += [
        "",
        f"Median init **{cold['init_s']['p50'] / 1000:.2f} s** (max {cold['init_s']['max'] / 1000:.2f} s): "
        f"target <= {TARGET_COLD_S:.0f} s {'met' if ok else 'NOT met'}.",
        "",
        "## Warm, per photo, inside the function (read a local file, decode + infer + heads + answer)",
        "",
        "| photos | threads | n | read p50 ms | answer p50 ms | total p50 ms | total p95 ms | total max ms "
        "| CPU p50 ms | peak RSS MiB | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, run in warm.items():
        name = key.split("/")[0]
        target = TARGETS_MS[name]
        verdict = "met" if run["total_ms"]["p95"] <= target else "NOT met"
        lines.append(
            f"| {name} | {run['threads']} | {run['photos']} | {run['read_ms']['p50']:.1f} | "
            f"{run['answer_ms']['p50']:.1f} | {run['total_ms']['p50']:.1f} | {run['total_ms']['p95']:.1f} | "
            f"{run['total_ms']['max']:.1f} | {run['cpu_ms']['p50']:.1f} | {run['peak_rss_mib']:.0f} | "
            f"<= {target:.0f} ms (p95): {verdict} |"
        )
    lines += [
        "",
        "## The whole invocation, S3 emulated (moto in-process: GET, answer, conditional PUT)",
        "",
        "| photos | invocations | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, run in inv.items():
        h = run["handler_ms"]
        lines.append(f"| {name} | {run['invocations']} | {h['p50']:.1f} | {h['p95']:.1f} | {h['max']:.1f} |")
    lines += [
        "",
        "moto's S3 is local Python, not the network: on AWS a small GET or PUT has a median of tens of ms",
        "(docs/cost-model.md, section 7, which turns these numbers into memory, architecture and euros).",
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any], results_dir: Path) -> tuple[Path, Path]:
    """``<date>-answer.json`` and ``.md``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / f"{results['date'][:10]}-answer"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    md_path.write_text(to_markdown(results))
    return json_path, md_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.answer_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--thumbnails", type=int, default=THUMBNAILS, help=f"default {THUMBNAILS}")
    parser.add_argument("--photos", type=int, default=PHOTOS, help=f"12 MP photos (default {PHOTOS})")
    parser.add_argument("--cold", type=int, default=5, help="fresh processes for the cold init (default 5)")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "bench" / "work")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--child", choices=("cold", "warm", "invocation"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        files = args.files.read_text().splitlines() if args.files else []
        report = {
            "cold": child_cold,
            "warm": lambda: child_warm(files, args.threads),
            "invocation": lambda: child_invocation(files),
        }[args.child]()
        print(json.dumps(report))
        return 0
    results = measure(args)
    json_path, md_path = write(results, args.results_dir)
    print(to_markdown(results))
    print(f"[answer] wrote {json_path} and {md_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
