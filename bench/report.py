"""Ratios, targets and the markdown table from one run's raw results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB_MIB = 1024.0
TARGET_LIMIT_SHARE = 0.85
TARGET_REFERENCE_SPEEDUP = 6.0
TARGET_PCA_SHARE = 0.10
TARGET_WORKER_RSS_MIB = GIB_MIB

LABELS = {
    "limit": "1. model alone (LiteRT, pre-decoded, 2 proc x 1 thread)",
    "limit_after": "1'. model alone, measured again after 2",
    "ours": "2. this pipeline (`local[*]`, end to end)",
    "ours_big_partitions": "2b. this pipeline, all files in 2 x cores partitions",
    "reference": "3. reference re-implementation (Keras UDF)",
}


@dataclass(frozen=True)
class Target:
    """One target of the issue, with the measured value."""

    name: str
    measured: float | None
    threshold: float
    higher_is_better: bool
    unit: str

    @property
    def status(self) -> str:
        if self.measured is None:
            return "N/A"
        ok = self.measured >= self.threshold if self.higher_is_better else self.measured <= self.threshold
        return "PASS" if ok else "MISS"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "threshold": self.threshold,
            "higher_is_better": self.higher_is_better,
            "unit": self.unit,
            "status": self.status,
        }


def _ips(runs: dict[str, Any], dataset: str, name: str) -> float | None:
    run = runs.get(dataset, {}).get(name)
    if not run or not run.get("ok"):
        return None
    return run["result"].get("images_per_second")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def limit_ips(runs: dict[str, Any], dataset: str) -> float | None:
    """The model-alone throughput: mean of the measurements before and after ours."""
    values = [v for v in (_ips(runs, dataset, n) for n in ("limit", "limit_after")) if v is not None]
    return round(sum(values) / len(values), 2) if values else None


def images_per_cpu_second(run: dict[str, Any] | None) -> float | None:
    """Images per CPU-second of the whole process tree (robust to other load on the machine)."""
    if not run or not run.get("ok") or not run.get("cpu_seconds"):
        return None
    return round(run["result"]["images"] / run["cpu_seconds"], 2)


def ratios(runs: dict[str, Any]) -> dict[str, float | None]:
    """ours/limit and ours/reference per dataset (wall clock), and ours/reference per CPU-second."""
    out: dict[str, float | None] = {}
    for dataset, by_name in runs.items():
        ours = _ips(runs, dataset, "ours")
        out[f"{dataset}: ours/limit"] = _ratio(ours, limit_ips(runs, dataset))
        out[f"{dataset}: ours/reference"] = _ratio(ours, _ips(runs, dataset, "reference"))
        out[f"{dataset}: ours/reference per CPU-second"] = _ratio(
            images_per_cpu_second(by_name.get("ours")), images_per_cpu_second(by_name.get("reference"))
        )
    return out


def worker_rss_mib(run: dict[str, Any] | None) -> float | None:
    """Peak VmHWM of the PySpark Python workers of a run (None when none was seen)."""
    if not run:
        return None
    return run.get("rss_peak_mib", {}).get("python_worker")


def targets(runs: dict[str, Any]) -> list[Target]:
    """The issue's four targets for this project's pipeline."""
    r = ratios(runs)
    small_ours = runs.get("small", {}).get("ours")
    pca_share = (
        small_ours["result"].get("pca_share_of_total") if small_ours and small_ours.get("ok") else None
    )
    ours_runs = [run for d in runs.values() for name, run in d.items() if name.startswith("ours")]
    rss = [v for v in (worker_rss_mib(run) for run in ours_runs) if v is not None]
    return [
        Target(
            "small images: ours >= 85 % of the model alone",
            r.get("small: ours/limit"),
            TARGET_LIMIT_SHARE,
            True,
            "x",
        ),
        Target(
            "12 MP photos: ours >= 6x the reference",
            r.get("large: ours/reference"),
            TARGET_REFERENCE_SPEEDUP,
            True,
            "x",
        ),
        Target("PCA fit < 10 % of the total (small set)", pca_share, TARGET_PCA_SHARE, False, "share"),
        Target(
            "Python worker peak RSS <= 1 GiB (every run of ours)",
            max(rss) if rss else None,
            TARGET_WORKER_RSS_MIB,
            False,
            "MiB",
        ),
    ]


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    """The results table, ratios and targets as markdown."""
    runs = results["runs"]
    datasets = results["datasets"]
    lines = [
        f"# Benchmark results {results['date']}",
        "",
        f"Machine: {results['machine']['nproc']} cores ({results['machine']['cpu_model']}), "
        f"{results['machine']['mem_total_gib']} GiB; load average at start "
        f"{results['load_average_start']}, at end {results['load_average_end']} (shared machine).",
        "",
        "| dataset | measurement | images | seconds | images/s | PCA fit s (share) "
        "| images per CPU-s | peak Python worker RSS MiB | workers seen | load (1 min) start/end |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dataset, by_name in runs.items():
        info = datasets[dataset]
        title = f"{dataset} ({info['files']:,} files, {info['bytes'] / 1e6:,.0f} MB)"
        for name, run in by_name.items():
            res = run.get("result", {}) if run.get("ok") else {}
            pca = res.get("pca_fit_seconds")
            share = res.get("pca_share_of_total")
            pca_cell = "–" if pca is None else f"{pca:.1f} ({share:.0%})"
            rss = run.get("rss_peak_mib", {})
            is_limit = name.startswith("limit")
            worker = rss.get("other" if is_limit else "python_worker")
            seen = run.get("processes_seen", {}).get("other" if is_limit else "python_worker")
            per_cpu = None if is_limit else images_per_cpu_second(run)
            status = "" if run.get("ok") else " **FAILED**"
            lines.append(
                f"| {title} | {LABELS.get(name, name)}{status} | {_fmt(res.get('images'), ',')} "
                f"| {_fmt(res.get('seconds'))} | {_fmt(res.get('images_per_second'))} | {pca_cell} "
                f"| {_fmt(per_cpu, '.2f')} | {_fmt(worker, '.0f')} | {_fmt(seen, 'd')} "
                f"| {'/'.join(f'{v:.1f}' for v in run.get('load_average', []))} |"
            )
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {_fmt(v, '.2f')} |" for k, v in results["ratios"].items()]
    lines += ["", "| target | measured | status |", "|---|---:|---|"]
    for t in results["targets"]:
        value = t["measured"]
        shown = (
            "–" if value is None else (f"{value:.0%}" if t["unit"] == "share" else f"{value:.2f} {t['unit']}")
        )
        lines.append(f"| {t['name']} | {shown} | **{t['status']}** |")
    lines += [
        "",
        "Images/s are end to end for 2 and 3 (listing, read, decode, features, PCA fit and transform, "
        "Parquet), inference only for 1 (ratios use the mean of 1 and 1'); Spark session start-up and the "
        "TensorFlow import are off the clock. Images per CPU-s counts the CPU time of the whole process tree "
        "(JVM, driver, Python workers, start-up included), which other load on the shared machine barely "
        "changes. "
        "For 1 the RSS column is the model processes' peak. The reference fits PCA with k = 100; "
        "this pipeline fits every component and keeps the smallest k reaching 95 % variance.",
    ]
    return "\n".join(lines) + "\n"
