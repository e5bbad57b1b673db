"""Pure helpers of the benchmark (no Spark, no timing assertions)."""

from bench.cost import Sizing, job_cost
from bench.measure import classify
from bench.report import Target, ratios


def test_target_status_respects_direction():
    assert Target("t", 0.9, 0.85, True, "x").status == "PASS"
    assert Target("t", 0.5, 0.85, True, "x").status == "MISS"
    assert Target("t", 0.05, 0.10, False, "share").status == "PASS"
    assert Target("t", None, 0.10, False, "share").status == "N/A"


def test_ratios_use_the_mean_of_both_limit_measurements():
    def run(ips):
        return {"ok": True, "result": {"images_per_second": ips, "images": 10}, "cpu_seconds": 0}

    runs = {
        "small": {"limit": run(100.0), "limit_after": run(300.0), "ours": run(100.0), "reference": run(50.0)}
    }
    out = ratios(runs)
    assert out["small: ours/limit"] == 0.5
    assert out["small: ours/reference"] == 2.0
    assert out["small: ours/reference per CPU-second"] is None


def test_job_cost_applies_the_one_minute_minimum():
    tiny = job_cost(1, 100.0, Sizing(executors=1, driver_startup_s=0, executor_startup_s=0))
    assert tiny["wall_s"] == 60.0
    assert tiny["vcpu_hours"] == round((2 * 60 + 4 * 60) / 3600, 4)


def test_classify_pyspark_workers():
    assert classify(5, 1, "/venv/bin/python -m pyspark.daemon") == "python_worker"
    assert classify(5, 1, "/usr/lib/jvm/bin/java -cp x") == "jvm"
    assert classify(1, 1, "python -m bench.ours") == "driver"
