"""Two versions of the code side by side: the ratios of interleaved ``python -m bench`` runs of each.

Each run's report computes its ratios against measurements of the same run (the model alone, the
reference, the empty job), so a ratio compares two trees on a shared, noisy machine better than a raw
time does. Given the results files of the runs of each tree (run alternately: old, new, old, new),
this writes, per ratio, both trees' values run by run, their means, and a verdict: "not worse" when the
new mean is at least as good as the old one, else "worse by X %" (whatever the noise: the spread of the
runs is shown beside it). Each run's load average (``bench.machine``) is recorded with it.

``python -m bench.compare --old A.json C.json --new B.json D.json --out bench/results/<name>``
(writes ``<name>.json`` and ``<name>.md``)
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench.report import limit_ips

#: Ratios where a smaller value is the better one (a job's cost relative to an empty job's).
LOWER_IS_BETTER = ("/ empty job",)


def higher_is_better(ratio: str) -> bool:
    """True for ratios of throughputs (ours / the model alone, ours / the reference)."""
    return not any(marker in ratio for marker in LOWER_IS_BETTER)


def mean(values: list[float | None]) -> float | None:
    """Mean of the measured values (None where a run did not measure it)."""
    present = [v for v in values if v is not None]
    return round(statistics.fmean(present), 3) if present else None


def change(old: float | None, new: float | None, higher_better: bool) -> float | None:
    """How much better (> 0) or worse (< 0) the new mean is, as a fraction of the old one."""
    if old is None or new is None or old == 0:
        return None
    delta = (new - old) / old
    return round(delta if higher_better else -delta, 4)


def verdict(improvement: float | None) -> str:
    """ "not worse", "worse by X %", or "not measured"."""
    if improvement is None:
        return "not measured"
    return "not worse" if improvement >= 0 else f"worse by {-improvement:.1%}"


def overlaps(old: list[float | None], new: list[float | None]) -> bool | None:
    """True when the ranges of the two trees' runs overlap (the difference is within the runs' spread)."""
    a, b = [v for v in old if v is not None], [v for v in new if v is not None]
    if not a or not b:
        return None
    return max(a) >= min(b) and max(b) >= min(a)


def _run_info(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """What identifies a run and the machine's state during it."""
    sweep = results.get("batch_sizes", {})

    def job(n: str, key: str) -> float | None:
        run = sweep.get(n)
        return run["result"].get(key) if run and run.get("ok") else None

    small = results.get("runs", {}).get("small", {})
    ours = small.get("ours", {}).get("result", {}) if small.get("ours", {}).get("ok") else {}
    return {
        "file": str(path),
        "started_at": results.get("started_at"),
        "total_seconds": results.get("total_seconds"),
        "load_average_start": results.get("load_average_start"),
        "load_average_end": results.get("load_average_end"),
        # Absolute figures of the same run, for reading the ratios. Wall times follow the shared
        # machine's load; CPU-seconds (the process tree's own work) much less so.
        "absolute": {
            "empty job, whole process s": job("0", "whole_process_seconds"),
            "10-image job, whole process s": job("10", "whole_process_seconds"),
            "empty job, CPU-s": job("0", "cold_cpu_seconds"),
            "10-image job, CPU-s": job("10", "cold_cpu_seconds"),
            "small: model alone img/s (mean of 1 and 1')": limit_ips(results.get("runs", {}), "small"),
            "small: ours batch run img/s": ours.get("images_per_second"),
            "small: ours whole process s": ours.get("whole_process_seconds"),
            "small: ours CPU-s": ours.get("cold_cpu_seconds"),
            "small: ours warm features phase s": ours.get("warm_features_phase_seconds"),
            "small: PCA k of the basis": ours.get("pca_k") or _old_basis_k(ours),
        },
    }


def _old_basis_k(ours: dict[str, Any]) -> int | None:
    """The k of the basis a run of the old code projected on (it kept it in the run's summary)."""
    return (ours.get("cold") or {}).get("summary", {}).get("pca_k")


def compare(old: list[tuple[Path, dict]], new: list[tuple[Path, dict]]) -> dict[str, Any]:
    """Per ratio: each run's value for both trees, the means, the change and the verdict."""
    names: list[str] = []
    for _, results in [*old, *new]:
        names += [k for k in results.get("ratios", {}) if k not in names]
    ratios = {}
    for name in names:
        olds = [r.get("ratios", {}).get(name) for _, r in old]
        news = [r.get("ratios", {}).get(name) for _, r in new]
        higher = higher_is_better(name)
        improvement = change(mean(olds), mean(news), higher)
        ratios[name] = {
            "higher_is_better": higher,
            "old": olds,
            "new": news,
            "old_mean": mean(olds),
            "new_mean": mean(news),
            "improvement": improvement,
            "runs_overlap": overlaps(olds, news),
            "verdict": verdict(improvement),
        }
    runs = {"old": [_run_info(p, r) for p, r in old], "new": [_run_info(p, r) for p, r in new]}
    absolute = {
        name: {tree: mean([r["absolute"][name] for r in runs[tree]]) for tree in ("old", "new")}
        for name in (runs["old"] or runs["new"])[0]["absolute"]
    }
    return {"runs": runs, "ratios": ratios, "absolute_means": absolute}


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(comparison: dict[str, Any], title: str, notes: str = "") -> str:
    """The side-by-side table, the verdicts and the runs' machine state."""
    runs = comparison["runs"]
    n_old, n_new = len(runs["old"]), len(runs["new"])
    header = ["ratio", *[f"old {i + 1}" for i in range(n_old)], *[f"new {i + 1}" for i in range(n_new)]]
    header += ["old mean", "new mean", "change", "verdict"]
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 2) + "---|"]
    for name, r in comparison["ratios"].items():
        arrow = "↑" if r["higher_is_better"] else "↓"
        spread = "" if r["runs_overlap"] in (None, True) else " (runs do not overlap)"
        cells = [f"{name} ({arrow} better)", *[_fmt(v) for v in r["old"]], *[_fmt(v) for v in r["new"]]]
        cells += [
            _fmt(r["old_mean"]),
            _fmt(r["new_mean"]),
            "–" if r["improvement"] is None else f"{r['improvement']:+.1%}",
            f"**{r['verdict']}**{spread}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "change: how much better (+) or worse (−) the new mean is than the old one, in the ratio's own "
        "direction (↑: higher is better, ↓: lower is better).",
    ]
    lines += [
        "",
        "| absolute figure (mean of the runs) | old | new |",
        "|---|---:|---:|",
        *[
            f"| {name} | {_fmt(v['old'], '.2f')} | {_fmt(v['new'], '.2f')} |"
            for name, v in comparison["absolute_means"].items()
        ],
        "",
        "| run | started (UTC) | total s | load average at start (1/5/15 min) | at end |"
        + "".join(f" {k} |" for k in runs["old"][0]["absolute"]),
        "|---|---|---:|---|---|" + "---:|" * len(runs["old"][0]["absolute"]),
    ]
    order = sorted(
        [(f"old {i + 1}", r) for i, r in enumerate(runs["old"])]
        + [(f"new {i + 1}", r) for i, r in enumerate(runs["new"])],
        key=lambda item: item[1]["started_at"] or "",
    )
    for label, r in order:
        absolute = "".join(
            f" {_fmt(v, '.2f') if isinstance(v, float) else _fmt(v, 'd')} |" for v in r["absolute"].values()
        )
        lines.append(
            f"| {label} | {r['started_at']} | {_fmt(r['total_seconds'], '.0f')} "
            f"| {r['load_average_start']} | {r['load_average_end']} |{absolute}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--old", nargs="+", type=Path, required=True, help="results of the old code's runs")
    parser.add_argument("--new", nargs="+", type=Path, required=True, help="results of the new code's runs")
    parser.add_argument("--out", type=Path, required=True, help="writes <out>.json and <out>.md")
    parser.add_argument("--title", default="Old vs new code: ratios of interleaved benchmark runs")
    parser.add_argument("--notes", type=Path, help="a Markdown file of notes placed under the title")
    parser.add_argument(
        "--supplementary", type=Path, help="a JSON file of other measurements, kept under 'supplementary'"
    )
    parser.add_argument("--old-label", default="old")
    parser.add_argument("--new-label", default="new")
    args = parser.parse_args(argv)
    old = [(p, json.loads(p.read_text())) for p in args.old]
    new = [(p, json.loads(p.read_text())) for p in args.new]
    comparison = {"old_code": args.old_label, "new_code": args.new_label, **compare(old, new)}
    if args.supplementary:
        comparison["supplementary"] = json.loads(args.supplementary.read_text())
    notes = args.notes.read_text() if args.notes else ""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(comparison, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(comparison, args.title, notes))
    print(markdown(comparison, args.title, notes), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
