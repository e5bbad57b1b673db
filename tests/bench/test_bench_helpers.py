"""Pure helpers of the benchmark (no Spark, no timing assertions)."""

import os

import pytest

from bench.cost import Measured, Sizing, executors_for, job_cost, scale_out
from bench.measure import RssSampler, classify, tree_cpu_seconds
from bench.report import Target, cpu_seconds_per_image, ratios, targets


def test_target_status_respects_direction():
    assert Target("t", 0.9, 0.85, True, "x").status == "PASS"
    assert Target("t", 0.5, 0.85, True, "x").status == "MISS"
    assert Target("t", 0.05, 0.10, False, "share").status == "PASS"
    assert Target("t", None, 0.10, False, "share").status == "N/A"


def _run(**result):
    return {"ok": True, "wall_seconds": 50.0, "cpu_seconds": 90.0, "result": {"images": 1000, **result}}


def test_ratios_and_targets_come_from_the_same_run():
    runs = {
        "small": {
            "limit": _run(images_per_second=100.0),
            "limit_after": _run(images_per_second=300.0),  # the mean of both is the model alone: 200
            "ours": _run(
                whole_process_images_per_second=160.0,
                images_per_second=170.0,
                warm_features_images_per_second=190.0,
                cold_cpu_seconds=20.0,
            ),
            "reference": _run(images_per_second=50.0),  # whole process: 1000 / 50 s = 20
        }
    }
    sweep = {"0": _run(whole_process_seconds=10.0), "10": _run(whole_process_seconds=12.5)}
    out = ratios(runs, sweep)
    assert out["small: ours whole process (cold) / model alone"] == 0.8
    assert out["small: ours features phase (warm) / model alone"] == 0.95
    assert out["small: ours / reference (batch run)"] == 3.4
    assert out["small: ours / reference (whole process)"] == 8.0
    assert out["small: ours LiteRT / ours Keras (batch run)"] is None  # not measured
    assert out["10-image job / empty job (whole process)"] == 1.25
    status = {t.name: t.status for t in targets(runs, sweep)}
    assert status["small, whole process, cold: ours >= 0.75 of the model alone"] == "PASS"
    assert status["small, steady-state features phase: ours >= 0.9 of the model alone"] == "PASS"
    assert status["12 MP photos: ours >= 5x the reference"] == "N/A"
    assert status["a 10-image job <= 2x an empty job (whole process)"] == "PASS"
    assert cpu_seconds_per_image(runs["small"]["ours"]) == 0.02  # the cold job's CPU, not the tree's 90 s
    assert cpu_seconds_per_image(runs["small"]["reference"]) == 0.09


def test_job_cost_applies_the_one_minute_minimum_and_scales_executors():
    m = Measured(fixed_s=10.0, vcpu_s_per_image=0.012, cores=2)
    tiny = job_cost(1, m, Sizing(provisioning_s=0), uplift=1.0)
    assert tiny["executors"] == 1 and tiny["vcpu_hours"] == round((1 * 60 + 2 * 60) / 3600, 4)
    assert job_cost(1, m, Sizing(initial_executors=3), uplift=1.0)["vcpu_hours"] > tiny["vcpu_hours"]
    # 1,000 images x 12 ms / 2 vCPU = 6 s on the first executor: done before Spark asks for more (30 s).
    assert executors_for(1_000, m, Sizing()) == 1
    # 10,000: 60 s alone; more executors would be ready only after 75 s (backlog + ramp + provisioning).
    assert executors_for(10_000, m, Sizing()) == 1
    # 100,000: 600 s alone, 391 tasks (spark_app/job/tasks.py) still waiting: every executor it may have.
    assert executors_for(100_000, m, Sizing()) == 15
    assert executors_for(100_000, m, Sizing(max_executors=4)) == 4  # capped
    assert executors_for(100_000, m, Sizing(scale_out_after_s=1.0)) == 15
    big = scale_out(100_000, m, Sizing())
    assert big.extra_from_s == 30 + 3 * 5 + 30  # asked after 30 s, 1+2+4+7 added every 5 s, 30 s to start
    assert big.processing_s == pytest.approx(75 + (1200 - 75 * 2) / 30)


def test_classify_pyspark_workers():
    assert classify(5, 1, "/venv/bin/python -m pyspark.daemon") == "python_worker"
    assert classify(5, 1, "/usr/lib/jvm/bin/java -cp x") == "jvm"
    assert classify(1, 1, "python -m bench.ours") == "driver"


def test_sampler_sees_this_process():
    sampler = RssSampler(os.getpid())
    sampler.sample()
    assert sampler.peaks_mib()["driver"] > 10 and sampler.processes_seen["driver"] == 1
    assert sampler.cpu_seconds() >= sum(os.times()[:2]) - 0.5  # this process, and any children (a JVM)


def test_tree_cpu_counts_this_process_at_least():
    assert tree_cpu_seconds(os.getpid()) >= sum(os.times()[:2]) - 0.05
