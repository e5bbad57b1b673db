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


def test_features_phase_is_the_single_pass_of_the_run_since_its_start():
    from bench.ours import features_phase

    events = [
        (1.0, "300 files in 4 partitions; litert, m"),
        (3.0, "features: 300 images, 0 errors (one pass)"),  # the cold run
        (10.0, "batch bench: listing x"),
        (11.5, "300 files in 4 partitions; litert, m"),
        (12.0, "answers: nothing"),
        (13.75, "features: 300 images, 0 errors (one pass)"),  # the warm run
    ]
    assert features_phase(events, 0.0) == 2.0
    assert features_phase(events, 10.0) == 2.25
    assert features_phase(events, 14.0) is None  # no run since
    assert features_phase(events[:4], 10.0) is None  # a run that never logged its end


def test_basis_line_says_how_the_basis_was_made():
    from bench.report import basis_line

    basis = {
        "version": "pca-k278-x",
        "k": 278,
        "explained_variance": 0.9501,
        "variance_target": 0.95,
        "k_capped": None,
        "images": 1900,
        "fit_seconds": 9.8,
    }
    line = basis_line({"ok": True, "result": {"images": 2000, "basis": basis}})
    assert "k=278" in line and "95.0%" in line and "1,900 distinct" in line and "9.8 s" in line
    assert "capped" not in line
    assert basis_line(None) is None
    assert "not fitted" in basis_line({"ok": False, "result": {}})


def test_cost_reads_the_newest_full_run_by_default(tmp_path):
    from bench.cost import newest_results

    (tmp_path / "runs").mkdir()
    for name in ("2026-11-23.json", "2026-12-02.json", "2026-12-09-int8.json", "2026-12-10.md"):
        (tmp_path / "runs" / name).write_text("{}")
    assert newest_results(tmp_path / "runs").name == "2026-12-02.json"
    with pytest.raises(FileNotFoundError):
        newest_results(tmp_path)


def test_compare_verdicts_follow_each_ratio_direction():
    from bench.compare import change, higher_is_better, mean, overlaps, verdict

    assert higher_is_better("small: ours / reference (batch run)")
    assert not higher_is_better("10-image job / empty job (whole process)")
    assert mean([1.0, None, 2.0]) == 1.5 and mean([None]) is None
    assert change(2.0, 2.2, True) == 0.1 and change(2.0, 2.2, False) == -0.1
    assert verdict(0.0) == "not worse" and verdict(-0.034) == "worse by 3.4%"
    assert verdict(None) == "not measured"
    assert overlaps([1.0, 1.2], [1.1, 1.3]) and not overlaps([1.0, 1.1], [1.2, 1.3])


def test_compare_puts_both_trees_side_by_side():
    from pathlib import Path

    from bench.compare import compare, markdown

    def results(started, ratio, empty):
        return {
            "started_at": started,
            "load_average_start": [2.0, 2.0, 2.0],
            "load_average_end": [2.5, 2.0, 2.0],
            "ratios": {"small: ours / reference (batch run)": ratio, "10-image job / empty job": empty},
            "batch_sizes": {"0": _run(whole_process_seconds=10.0)},
        }

    old = [(Path("o1"), results("t1", 3.0, 1.3)), (Path("o2"), results("t3", 3.2, 1.3))]
    new = [(Path("n1"), results("t2", 3.3, 1.4)), (Path("n2"), results("t4", 3.5, 1.4))]
    out = compare(old, new)
    reference = out["ratios"]["small: ours / reference (batch run)"]
    assert reference["old"] == [3.0, 3.2] and reference["new_mean"] == 3.4
    assert reference["verdict"] == "not worse"
    assert out["ratios"]["10-image job / empty job"]["verdict"] == "worse by 7.7%"
    assert out["absolute_means"]["empty job, whole process s"] == {"old": 10.0, "new": 10.0}
    assert out["absolute_means"]["10-image job, CPU-s"] == {"old": None, "new": None}
    table = markdown(out, "t")
    assert "| old 1 | t1 |" in table and table.index("| new 1 | t2 |") < table.index("| old 2 | t3 |")
