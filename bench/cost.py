"""Cost of a batch of any size on EMR Serverless (docs/cost-model.md), from one benchmark run.

Measured here (``bench/results/<date>.json``): the whole-process seconds of an empty job (the fixed
cost a job pays before its first image: Python, Spark, the model payload, the batch's bookkeeping)
and the vCPU-seconds each further image costs ((job of N images - empty job) x cores / N). Assumed
(documented, not measurable without AWS): EMR Serverless worker provisioning, list prices, the
regional uplift. ``python -m bench.cost [bench/results/<date>.json]`` prints the tables (default: the
newest full run's results in bench/results).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from spark_app.job.tasks import partition_count

#: us-east-1, x86, on demand (https://aws.amazon.com/emr/pricing/, via the project's notes).
VCPU_HOUR_USD = 0.052624
GB_HOUR_USD = 0.0057785
#: eu-west-3 was not readable here; the one regional price list found (ap-southeast-1) is +25 %.
EU_UPLIFT = 1.25
#: ECB reference rate of 2026-10-28: 1 EUR = 1.1133 USD.
EUR_PER_USD = 1 / 1.1133
MINIMUM_SECONDS = 60.0  # billed per worker
BATCHES = (1, 10, 100, 1_000, 10_000, 90_000)


@dataclass(frozen=True)
class Sizing:
    """The workers of one job run and the EMR provisioning time (an assumption)."""

    driver_vcpu: int = 1
    driver_gb: int = 4
    executor_vcpu: int = 2
    executor_gb: int = 4
    #: Executors started with the job (``spark.dynamicAllocation.initialExecutors``).
    initial_executors: int = 1
    max_executors: int = 15
    #: Worker provisioning before Spark starts (image pull, container): not measurable here.
    provisioning_s: float = 30.0
    #: ``spark.dynamicAllocation.schedulerBacklogTimeout``: tasks must have waited this long before
    #: Spark asks for more executors (the stack: 30 s; Spark's default: 1 s) ...
    scale_out_after_s: float = 30.0
    #: ... then it doubles its request every ``sustainedSchedulerBacklogTimeout`` (the stack: 5 s).
    ramp_step_s: float = 5.0


@dataclass(frozen=True)
class Measured:
    """What one benchmark run says a job costs on this machine."""

    fixed_s: float  # whole process of an empty job
    vcpu_s_per_image: float  # marginal, whole-process basis
    cores: int


def measured(results: dict, dataset: str = "small") -> Measured:
    """Fixed cost from the empty job, marginal cost from the dataset's production job."""
    cores = results["machine"]["nproc"]
    empty = results["batch_sizes"]["0"]["result"]["whole_process_seconds"]
    ours = results["runs"][dataset]["ours"]["result"]
    marginal = (ours["whole_process_seconds"] - empty) * cores / ours["images"]
    return Measured(round(empty, 2), round(marginal, 5), cores)


@dataclass(frozen=True)
class ScaleOut:
    """How a job's work spreads: executors at the end, the processing time, and when the extra executors
    (beyond the initial ones) start working (seconds into the processing)."""

    executors: int
    processing_s: float
    extra_from_s: float


def scale_out(images: int, m: Measured, sizing: Sizing) -> ScaleOut:
    """Spark's dynamic allocation over the job's tasks (spark_app/job/tasks.py).

    The initial executors start on the tasks; if tasks are still waiting after ``scale_out_after_s``,
    Spark asks for one executor per ``executor_vcpu`` waiting tasks (at most ``max_executors``),
    doubling its request every ``ramp_step_s``; they work once provisioned. Executors that would be
    ready only after the initial ones finished are never counted (the request ends with the job).
    """
    work = images * m.vcpu_s_per_image  # vCPU-seconds
    initial = sizing.initial_executors
    alone_s = work / (initial * sizing.executor_vcpu)
    if alone_s <= sizing.scale_out_after_s:
        return ScaleOut(initial, alone_s, alone_s)
    tasks = partition_count(images, sizing.max_executors * sizing.executor_vcpu)
    waiting = math.ceil(tasks * (1 - sizing.scale_out_after_s / alone_s))
    executors = min(sizing.max_executors, max(initial, initial + math.ceil(waiting / sizing.executor_vcpu)))
    rounds = math.ceil(math.log2(executors - initial + 1))
    ready_s = sizing.scale_out_after_s + sizing.ramp_step_s * max(0, rounds - 1) + sizing.provisioning_s
    if executors == initial or alone_s <= ready_s:
        return ScaleOut(initial, alone_s, alone_s)
    rest = work - ready_s * initial * sizing.executor_vcpu
    return ScaleOut(executors, ready_s + rest / (executors * sizing.executor_vcpu), ready_s)


def executors_for(images: int, m: Measured, sizing: Sizing) -> int:
    """Executors dynamic allocation ends up with (:func:`scale_out`)."""
    return scale_out(images, m, sizing).executors


def job_cost(images: int, m: Measured, sizing: Sizing, uplift: float = EU_UPLIFT) -> dict[str, float]:
    """Latency and cost of one job: the driver runs from provisioning to the end, each executor from
    its provisioning to the end of the work, each at least a minute."""
    spread = scale_out(images, m, sizing)
    executors, processing_s = spread.executors, spread.processing_s
    driver_s = max(MINIMUM_SECONDS, sizing.provisioning_s + m.fixed_s + processing_s)
    initial_s = max(MINIMUM_SECONDS, sizing.provisioning_s + processing_s)
    extra_s = max(MINIMUM_SECONDS, processing_s - spread.extra_from_s)
    executor_s = sizing.initial_executors * initial_s + (executors - sizing.initial_executors) * extra_s
    vcpu_h = (sizing.driver_vcpu * driver_s + sizing.executor_vcpu * executor_s) / 3600
    gb_h = (sizing.driver_gb * driver_s + sizing.executor_gb * executor_s) / 3600
    usd = uplift * (vcpu_h * VCPU_HOUR_USD + gb_h * GB_HOUR_USD)
    return {
        "executors": executors,
        "latency_s": round(sizing.provisioning_s + m.fixed_s + processing_s, 1),
        "vcpu_hours": round(vcpu_h, 4),
        "gb_hours": round(gb_h, 4),
        "eur": round(usd * EUR_PER_USD, 5),
        "eur_per_1000_images": round(usd * EUR_PER_USD * 1000 / images, 5) if images else None,
    }


#: The configurations compared (driver + executors, initial executors).
THIS_STACK = "this stack: 1 vCPU/4 GB driver, 2 vCPU/4 GB executors, 1 initial"
CONFIGURATIONS = {
    "EMR defaults: 4 vCPU/16 GB workers, 3 initial": Sizing(
        driver_vcpu=4,
        driver_gb=16,
        executor_vcpu=4,
        executor_gb=16,
        initial_executors=3,
        max_executors=7,
        scale_out_after_s=1.0,  # Spark's default backlog timeout
        ramp_step_s=1.0,
    ),
    "until 2026-12-02: 2 vCPU/8 GB driver, 4 vCPU/8 GB executors, 1 initial": Sizing(
        driver_vcpu=2,
        driver_gb=8,
        executor_vcpu=4,
        executor_gb=8,
        initial_executors=1,
        max_executors=7,
        scale_out_after_s=1.0,
        ramp_step_s=1.0,
    ),
    THIS_STACK: Sizing(),
}


def batch_table(results: dict, dataset: str = "small") -> str:
    """Markdown: € per batch and per 1,000 images, and latency, for each batch size and configuration."""
    m = measured(results, dataset)
    lines = [
        f"Measured ({results['date']}, {dataset} images): fixed cost {m.fixed_s:.1f} s (empty job, whole "
        f"process), {m.vcpu_s_per_image * 1000:.2f} vCPU-ms per image.",
        "",
        "| images per batch | configuration | executors | latency s | vCPU-h | GB-h | € per batch "
        "| € per 1,000 images |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for images in BATCHES:
        for name, sizing in CONFIGURATIONS.items():
            c = job_cost(images, m, sizing)
            lines.append(
                f"| {images:,} | {name} | {c['executors']} | {c['latency_s']:.0f} | {c['vcpu_hours']:.4f} "
                f"| {c['gb_hours']:.4f} | {c['eur']:.4f} | {c['eur_per_1000_images']:.4f} |"
            )
    return "\n".join(lines) + "\n"


#: Daily upload volumes and batching windows compared by ``window_table``.
DAILY_UPLOADS = (1_000, 10_000, 100_000)
WINDOWS_S = (10, 60, 120, 300)


def window_table(results: dict) -> str:
    """Markdown: € per month and the worst-case answer latency, per daily volume and batching window.

    Uploads arrive evenly; a window collects what arrives in it (at least one upload per job).
    """
    m = measured(results)
    sizing = CONFIGURATIONS[THIS_STACK]
    lines = [
        "| uploads per day | batching window s | images per job | jobs per day | € per month "
        "| € per 1,000 images | worst-case answer latency s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for daily in DAILY_UPLOADS:
        for window in WINDOWS_S:
            jobs = min(daily, 86_400 / window)
            images = daily / jobs
            c = job_cost(round(images), m, sizing)
            lines.append(
                f"| {daily:,} | {window} | {images:,.0f} | {jobs:,.0f} | {c['eur'] * jobs * 30:.2f} "
                f"| {c['eur'] * jobs * 1000 / daily:.4f} | {window + c['latency_s']:.0f} |"
            )
    return "\n".join(lines) + "\n"


RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: A full run's results file (``python -m bench``), not an experiment's (``<date>-int8.json``, ...).
FULL_RUN = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


def newest_results(folder: Path = RESULTS_DIR) -> Path:
    """The newest ``<date>.json`` of ``folder``."""
    runs = sorted(p for p in folder.iterdir() if FULL_RUN.match(p.name))
    if not runs:
        raise FileNotFoundError(f"no <date>.json results in {folder}: run python -m bench first")
    return runs[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument(
        "results", type=Path, nargs="?", help="a full run's results (default: the newest in bench/results)"
    )
    args = parser.parse_args(argv)
    path = args.results or newest_results()
    print(f"From {path}:\n")
    results = json.loads(path.read_text())
    print(batch_table(results))
    print(batch_table(results, "large"))
    print(window_table(results))


if __name__ == "__main__":
    main()
