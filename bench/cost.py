"""Cost model arithmetic (docs/cost-model.md) from a benchmark result's measured throughput.

``python -m bench.cost bench/results/<date>.json`` prints the EMR Serverless cost per 10,000
images and for the full 90,000-image Fruits-360, for this pipeline and for the reference,
at us-east-1 list prices and with a +25 % regional uplift (EU prices must be checked).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

#: us-east-1, x86, on demand (https://aws.amazon.com/emr/pricing/, via the project's notes).
VCPU_HOUR_USD = 0.052624
GB_HOUR_USD = 0.0057785
#: The one regional price list found (ap-southeast-1, 2026-08-12) is ~25 % above us-east-1.
UPLIFTS = (1.0, 1.25)
MINIMUM_SECONDS = 60.0  # per worker


@dataclass(frozen=True)
class Sizing:
    """Workers of one job run and the assumed start-up times."""

    driver_vcpu: int = 2
    driver_gb: int = 8
    executor_vcpu: int = 4
    executor_gb: int = 8
    executors: int = 2
    driver_startup_s: float = 90.0  # worker provisioning + image + Spark/JVM + listing + payload
    executor_startup_s: float = 30.0  # Python workers + model build per executor


def job_cost(images: int, per_vcpu_ips: float, sizing: Sizing, uplift: float = 1.0) -> dict[str, float]:
    """Wall time and cost (USD) of one job run processing ``images`` at ``per_vcpu_ips``."""
    processing_s = images / (per_vcpu_ips * sizing.executor_vcpu * sizing.executors)
    driver_s = max(MINIMUM_SECONDS, sizing.driver_startup_s + processing_s)
    executor_s = max(MINIMUM_SECONDS, sizing.executor_startup_s + processing_s)
    vcpu_h = (sizing.driver_vcpu * driver_s + sizing.executors * sizing.executor_vcpu * executor_s) / 3600
    gb_h = (sizing.driver_gb * driver_s + sizing.executors * sizing.executor_gb * executor_s) / 3600
    cost = uplift * (vcpu_h * VCPU_HOUR_USD + gb_h * GB_HOUR_USD)
    return {
        "processing_s": round(processing_s, 1),
        "wall_s": round(driver_s, 1),
        "vcpu_hours": round(vcpu_h, 4),
        "gb_hours": round(gb_h, 4),
        "usd": round(cost, 4),
    }


def table(results: dict) -> str:
    """Markdown table of costs for ours and the reference on the small set's measured throughput."""
    cores = results["machine"]["nproc"]
    rates = {}
    for name in ("ours", "reference"):
        run = results["runs"]["small"].get(name)
        if run and run.get("ok"):
            rates[name] = run["result"]["images_per_second"] / cores
    lines = [
        "| pipeline | images/s per vCPU (measured) | images | executors (4 vCPU, 8 GB) | wall "
        "| vCPU-h | GB-h "
        "| USD (us-east-1) | USD (+25 %) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rate in rates.items():
        for images, executors in ((100, 1), (10_000, 1), (10_000, 2), (90_000, 2), (90_000, 7)):
            sizing = Sizing(executors=executors)
            base = job_cost(images, rate, sizing)
            high = job_cost(images, rate, sizing, UPLIFTS[1])
            lines.append(
                f"| {name} | {rate:.1f} | {images:,} | {executors} | {base['wall_s'] / 60:.1f} min "
                f"| {base['vcpu_hours']:.3f} | {base['gb_hours']:.3f} | {base['usd']:.3f} "
                f"| {high['usd']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    print(table(json.loads(args.results.read_text())))


if __name__ == "__main__":
    main()
