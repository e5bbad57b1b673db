"""Ratios, targets and the markdown tables from one run's raw results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB_MIB = 1024.0
TARGET_WHOLE_PROCESS_SHARE = 0.75
TARGET_FEATURES_PHASE_SHARE = 0.90
TARGET_REFERENCE_SPEEDUP = 5.0
TARGET_SMALL_BATCH_FACTOR = 2.0
TARGET_WORKER_RSS_MIB = GIB_MIB

LABELS = {
    "limit": "1. model alone (LiteRT, pre-decoded, 2 proc x 1 thread)",
    "limit_after": "1'. model alone, measured again after 2",
    "ours": "2. this pipeline, production batch (single pass, LiteRT)",
    "ours_keras": "2k. this pipeline with `--backend keras`",
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


def _result(runs: dict[str, Any], dataset: str, name: str) -> dict[str, Any] | None:
    run = runs.get(dataset, {}).get(name)
    return run["result"] if run and run.get("ok") else None


def _get(runs: dict[str, Any], dataset: str, name: str, key: str) -> float | None:
    result = _result(runs, dataset, name)
    return None if result is None else result.get(key)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def limit_ips(runs: dict[str, Any], dataset: str) -> float | None:
    """The model-alone throughput: mean of the measurements before and after ours."""
    values = [v for n in ("limit", "limit_after") if (v := _get(runs, dataset, n, "images_per_second"))]
    return round(sum(values) / len(values), 2) if values else None


def whole_process_ips(run: dict[str, Any] | None) -> float | None:
    """Images per second of a whole process: ours reports it; otherwise the child's wall clock."""
    if not run or not run.get("ok"):
        return None
    result = run["result"]
    if result.get("whole_process_images_per_second") is not None:
        return result["whole_process_images_per_second"]
    return round(result["images"] / run["wall_seconds"], 2) if result.get("images") else None


def cpu_seconds_per_image(run: dict[str, Any] | None) -> float | None:
    """CPU-seconds (whole process tree, start-up included) per image; None for the model alone."""
    if not run or not run.get("ok") or not run.get("cpu_seconds") or not run["result"].get("images"):
        return None
    result = run["result"]
    if result.get("cold_cpu_seconds") is not None:  # ours: the cold job only, not its warm repeat
        return round(result["cold_cpu_seconds"] / result["images"], 4)
    return round(run["cpu_seconds"] / result["images"], 4)


def sweep_seconds(sweep: dict[str, Any], n: int) -> float | None:
    """Whole-process seconds of the cold job of ``n`` images in the batch-size sweep."""
    run = sweep.get(str(n))
    return run["result"]["whole_process_seconds"] if run and run.get("ok") else None


def ratios(runs: dict[str, Any], sweep: dict[str, Any] | None = None) -> dict[str, float | None]:
    """The ratios the targets and the docs use, all from this one run."""
    out: dict[str, float | None] = {}
    for dataset in runs:
        limit = limit_ips(runs, dataset)
        ours = runs[dataset].get("ours")
        out[f"{dataset}: ours whole process (cold) / model alone"] = _ratio(whole_process_ips(ours), limit)
        out[f"{dataset}: ours batch run (cold workers) / model alone"] = _ratio(
            _get(runs, dataset, "ours", "images_per_second"), limit
        )
        out[f"{dataset}: ours features phase (warm) / model alone"] = _ratio(
            _get(runs, dataset, "ours", "warm_features_images_per_second"), limit
        )
        out[f"{dataset}: ours / reference (batch run)"] = _ratio(
            _get(runs, dataset, "ours", "images_per_second"),
            _get(runs, dataset, "reference", "images_per_second"),
        )
        out[f"{dataset}: ours / reference (whole process)"] = _ratio(
            whole_process_ips(ours), whole_process_ips(runs[dataset].get("reference"))
        )
        out[f"{dataset}: ours LiteRT / ours Keras (batch run)"] = _ratio(
            _get(runs, dataset, "ours", "images_per_second"),
            _get(runs, dataset, "ours_keras", "images_per_second"),
        )
        out[f"{dataset}: ours Keras / reference (batch run, same runtime)"] = _ratio(
            _get(runs, dataset, "ours_keras", "images_per_second"),
            _get(runs, dataset, "reference", "images_per_second"),
        )
    if sweep:
        out["10-image job / empty job (whole process)"] = _ratio(
            sweep_seconds(sweep, 10), sweep_seconds(sweep, 0)
        )
        out["1,000-image job / empty job (whole process)"] = _ratio(
            sweep_seconds(sweep, 1000), sweep_seconds(sweep, 0)
        )
    return out


def worker_rss_mib(run: dict[str, Any] | None) -> float | None:
    """Peak RSS of the PySpark Python workers of a run (None when none was seen)."""
    if not run:
        return None
    return run.get("rss_peak_mib", {}).get("python_worker")


def targets(runs: dict[str, Any], sweep: dict[str, Any] | None = None) -> list[Target]:
    """The issue's targets for this project's pipeline."""
    r = ratios(runs, sweep)
    ours_runs = [run for d in runs.values() for name, run in d.items() if name == "ours"]
    ours_runs += list((sweep or {}).values())
    rss = [v for v in (worker_rss_mib(run) for run in ours_runs) if v is not None]
    return [
        Target(
            "small, whole process, cold: ours >= 0.75 of the model alone",
            r.get("small: ours whole process (cold) / model alone"),
            TARGET_WHOLE_PROCESS_SHARE,
            True,
            "x",
        ),
        Target(
            "small, steady-state features phase: ours >= 0.9 of the model alone",
            r.get("small: ours features phase (warm) / model alone"),
            TARGET_FEATURES_PHASE_SHARE,
            True,
            "x",
        ),
        Target(
            "12 MP photos: ours >= 5x the reference",
            r.get("large: ours / reference (batch run)"),
            TARGET_REFERENCE_SPEEDUP,
            True,
            "x",
        ),
        Target(
            "a 10-image job <= 2x an empty job (whole process)",
            r.get("10-image job / empty job (whole process)"),
            TARGET_SMALL_BATCH_FACTOR,
            False,
            "x",
        ),
        Target(
            "Python worker peak RSS <= 1 GiB (every job of ours)",
            max(rss) if rss else None,
            TARGET_WORKER_RSS_MIB,
            False,
            "MiB",
        ),
    ]


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def basis_line(run: dict[str, Any] | None) -> str | None:
    """One sentence on the PCA basis the production batches project on (None when not recorded)."""
    if not run:
        return None
    basis = (run.get("result") or {}).get("basis") if run.get("ok") else None
    if not basis:
        return "PCA basis: **not fitted** (the basis child failed)."
    capped = f" (k capped by the images: {basis['k_capped']})" if basis.get("k_capped") else ""
    return (
        f"PCA basis of the production batches: {basis['version']}, k={basis['k']} "
        f"({basis['explained_variance']:.1%} of the variance; target {basis['variance_target']}){capped}, "
        f"fitted over a features-only store of {run['result']['images']:,} files "
        f"({basis['images']:,} distinct images) by `fit_over_store` in {basis['fit_seconds']:.1f} s, "
        "then promoted; no batch fits a basis."
    )


def _row(title: str, name: str, run: dict[str, Any]) -> str:
    res = run.get("result", {}) if run.get("ok") else {}
    is_limit = name.startswith("limit")
    rss = run.get("rss_peak_mib", {}).get("other" if is_limit else "python_worker")
    whole = None if is_limit else (res.get("whole_process_seconds") or run.get("wall_seconds"))
    status = "" if run.get("ok") else " **FAILED**"
    return (
        f"| {title} | {LABELS.get(name, name)}{status} | {_fmt(res.get('images'), ',')} "
        f"| {_fmt(whole)} | {_fmt(None if is_limit else whole_process_ips(run))} "
        f"| {_fmt(res.get('seconds'))} | {_fmt(res.get('images_per_second'))} "
        f"| {_fmt(res.get('warm_features_images_per_second'))} "
        f"| {_fmt(None if is_limit else cpu_seconds_per_image(run), '.4f')} | {_fmt(rss, '.0f')} "
        f"| {'/'.join(f'{v:.1f}' for v in run.get('load_average', []))} |"
    )


def markdown(results: dict[str, Any]) -> str:
    """The results tables, ratios and targets as markdown."""
    runs, sweep = results["runs"], results.get("batch_sizes", {})
    datasets = results["datasets"]
    lines = [
        f"# Benchmark results {results['date']}",
        "",
        f"Machine: {results['machine']['nproc']} cores ({results['machine']['cpu_model']}), "
        f"{results['machine']['mem_total_gib']} GiB; load average at start "
        f"{results['load_average_start']}, at end {results['load_average_end']} (shared machine).",
        "",
        "| dataset | measurement | images | whole process s (cold) | whole process img/s | batch run s "
        "| batch run img/s | features phase img/s (warm) | CPU-s per image | peak Python worker RSS MiB "
        "| load (1 min) start/end |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    basis = basis_line(results.get("basis"))
    if basis:
        lines[4:4] = [basis, ""]
    for dataset, by_name in runs.items():
        info = datasets[dataset]
        title = f"{dataset} ({info['files']:,} files, {info['bytes'] / 1e6:,.0f} MB)"
        lines += [_row(title, name, run) for name, run in by_name.items()]
    if sweep:
        lines += [
            "",
            "Cold jobs of the production batch (one process each, small images):",
            "",
            "| images | whole process s | imports s | Spark session s | prepare s | batch run s "
            "| CPU-s (tree) | model builds | peak worker RSS MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, run in sweep.items():
            res = run.get("result", {}) if run.get("ok") else {}
            builds = res.get("cold", {}).get("model_builds")
            lines.append(
                f"| {int(n):,} | {_fmt(res.get('whole_process_seconds'), '.2f')} "
                f"| {_fmt(res.get('imports_seconds'), '.2f')} "
                f"| {_fmt(res.get('session_start_seconds'), '.2f')} "
                f"| {_fmt(res.get('prepare_seconds'), '.2f')} "
                f"| {_fmt(res.get('seconds'), '.2f')} | {_fmt(res.get('cold_cpu_seconds'), '.1f')} "
                f"| {_fmt(builds, 'd')} | {_fmt(worker_rss_mib(run), '.0f')} |"
            )
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {_fmt(v, '.2f')} |" for k, v in results["ratios"].items()]
    lines += ["", "| target | measured | status |", "|---|---:|---|"]
    for t in results["targets"]:
        value = t["measured"]
        shown = "–" if value is None else f"{value:.2f} {t['unit']}"
        lines.append(f"| {t['name']} | {shown} | **{t['status']}** |")
    lines += [
        "",
        "Whole process (cold): from the process's creation (Python start, imports, Spark session and JVM, "
        "model payload, with an empty model cache) to the end of the batch, as one EMR Serverless job "
        "runs it (without EMR's worker provisioning). Batch run: `execute()` of the prepared batch, the "
        "session already started (`prepare()` lists the inputs and reads the model and the promoted heads "
        "before it: outside this clock, inside the whole process; the reference's figure is its job with "
        "the session started). Features phase (warm): the single pass of "
        "the same batch run again in the same session. The model alone (1, 1') is inference only on "
        "pre-decoded tensors; ratios use the mean of 1 and 1'. CPU-s per image counts the whole process "
        "tree (JVM, driver, Python workers, start-up included) of the cold job; RSS is sampled with psutil.",
    ]
    return "\n".join(lines) + "\n"
