"""SparkJobProps, OrchestrationProps and RefitProps: defaults, validation, and the state machines."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from cdk_helpers import probe, resolve_join

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.orchestration import JobResources, Orchestration, Refit, spark_submit_parameters
from cdk_app.orchestration_props import OrchestrationProps, RefitProps, SparkJobProps
from cdk_app.processing_props import ProcessingProps
from cdk_app.stack_props import PipelineProps
from spark_app.job.tasks import task_slots


def test_defaults_are_the_configuration_defaults() -> None:
    config = PipelineConfig()
    assert SparkJobProps() == config.spark_job_props()
    assert OrchestrationProps() == config.orchestration_props()
    assert RefitProps() == config.refit_props()
    assert (OrchestrationProps().state_machine_name, RefitProps().state_machine_name) == (
        "fruits-feature-pipeline",
        "fruits-pca-refit",
    )
    assert (SparkJobProps().code_archive_key, SparkJobProps().entry_point_key) == (
        "code/spark_app.zip",
        "code/main.py",
    )


def test_both_state_machines_get_the_same_spark_job_props() -> None:
    config = PipelineConfig(executor_cores=4, executor_memory_gb=6, job_timeout_minutes=30, code_prefix="c/")
    assert config.orchestration_props().spark == config.refit_props().spark == config.spark_job_props()
    assert config.spark_job_props().code_archive_key == "c/spark_app.zip"


# -- worker sizes ----------------------------------------------------------------------------------


def test_default_and_documented_worker_sizes_are_valid() -> None:
    spark = PipelineConfig().spark_job_props()
    assert (spark.executor_cores, spark.executor_worker_memory_gb) == (2, 4)
    assert (spark.driver_cores, spark.batch_driver.worker_memory_gb) == (1, 4)
    assert spark.max_executors == 15  # (32 vCPU - 1) // 2
    assert (spark.refit_driver.cores, spark.refit_driver.worker_memory_gb) == (2, 16)
    assert PipelineConfig(executor_cores=4, executor_memory_gb=5, executor_memory_overhead_gb=3)
    assert PipelineConfig(executor_cores=8, executor_memory_gb=17, executor_memory_overhead_gb=3)
    assert PipelineConfig(executor_cores=16, executor_memory_gb=36, executor_memory_overhead_gb=4)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"executor_cores": 4}, "4 GB .* 4-vCPU .* 8-30 GB"),
        ({"executor_cores": 3}, "3 vCPU is not an EMR Serverless worker size"),
        ({"executor_cores": 8, "executor_memory_gb": 16}, "18 GB .* 8-vCPU .* steps of 4 GB"),
        ({"driver_memory_gb": 7}, "driver: 9 GB"),
        ({"emr_max_memory_gb": 16}, "emr_max_memory_gb must fit each driver"),  # refit: 16 + 4
        ({"refit_driver_memory_gb": 13}, "refit driver: 17 GB"),
        ({"refit_driver_cores": 3}, "refit driver: 3 vCPU is not an EMR Serverless worker size"),
    ],
)
def test_worker_sizes_must_be_ones_emr_serverless_offers(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SparkJobProps(**overrides)
    with pytest.raises(ConfigError, match=message):
        PipelineConfig(**overrides)


def test_each_driver_and_one_executor_must_fit_the_vcpu_cap() -> None:
    with pytest.raises(ConfigError, match="emr_max_vcpu must fit each driver and at least one executor"):
        SparkJobProps(emr_max_vcpu=3)  # the refit driver (2) and an executor (2)
    assert SparkJobProps(emr_max_vcpu=4).max_executors == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("initial_executors", 0, "initial_executors must be between 1 and 15"),
        ("initial_executors", 16, "initial_executors must be between 1 and 15"),
        ("job_failure_retries", -1, "job_failure_retries must be >= 0"),
        ("job_timeout_minutes", 0, "job_timeout_minutes must be positive"),
        ("log_retention_days", 0, "log_retention_days must be positive"),
        ("driver_memory_overhead_gb", 0, "driver_memory_overhead_gb must be positive"),
        ("python_path", "python3", "python_path 'python3' must be an absolute path"),
    ],
)
def test_invalid_spark_job_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SparkJobProps(**{field: value})


def test_spark_submit_parameters_follow_the_props() -> None:
    spark = SparkJobProps(
        executor_cores=4,
        executor_memory_gb=6,
        executor_memory_overhead_gb=2,
        initial_executors=3,
        emr_max_vcpu=64,
        python_path="/opt/python",
        code_archive_key="c/code.zip",
    )
    text = spark_submit_parameters(spark, artifacts_bucket="bucket", driver=spark.refit_driver)
    params = text.split(" --conf ")
    assert params[0] == "--py-files s3://bucket/c/code.zip"
    assert params[1:] == [
        "spark.executor.cores=4",
        "spark.executor.memory=6g",
        "spark.executor.memoryOverhead=2g",
        "spark.driver.cores=2",
        "spark.driver.memory=12g",
        "spark.driver.memoryOverhead=4g",
        "spark.dynamicAllocation.initialExecutors=3",
        "spark.dynamicAllocation.minExecutors=0",
        "spark.dynamicAllocation.maxExecutors=15",  # (64 - 1) // 4
        "spark.dynamicAllocation.schedulerBacklogTimeout=30s",
        "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout=5s",
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=/opt/python",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=/opt/python",
        "spark.executorEnv.PYSPARK_PYTHON=/opt/python",
    ]


def test_the_job_reads_its_capacity_from_the_spark_submit_parameters() -> None:
    """The job sizes its tasks for maxExecutors x executor cores, as the stack submits them."""
    for spark in (SparkJobProps(), SparkJobProps(executor_cores=4, executor_memory_gb=6, emr_max_vcpu=64)):
        text = spark_submit_parameters(spark, artifacts_bucket="bucket", driver=spark.batch_driver)
        conf = dict(item.split("=", 1) for item in text.split(" --conf ")[1:])
        slots = task_slots(lambda key, default=None, conf=conf: conf.get(key, default), default_parallelism=1)
        assert slots == spark.max_executors * spark.executor_cores


# -- timeouts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("job_timeout", [5, 120, 720, 2000])
def test_a_job_state_outlasts_the_queue_and_the_run(job_timeout: int) -> None:
    spark, processing = (
        SparkJobProps(job_timeout_minutes=job_timeout),
        ProcessingProps(job_timeout_minutes=job_timeout),
    )
    assert spark.queue_timeout_minutes == processing.queue_timeout_minutes  # what the application applies
    assert spark.task_timeout_minutes == processing.queue_timeout_minutes + job_timeout + 30
    retries = spark.job_failure_retries
    for jobs in (1, 5):  # the whole state machine outlasts every attempt of every job state
        assert spark.state_machine_timeout_minutes(jobs) > jobs * (1 + retries) * spark.task_timeout_minutes


def test_timeouts_that_would_cancel_a_queued_run_are_refused() -> None:
    class LongQueue(ProcessingProps):
        @property
        def queue_timeout_minutes(self) -> int:  # a scheduler that lets runs queue longer than assumed
            return 720

    with pytest.raises(ConfigError, match=r"orchestration: a job state times out after 270 min.*720 min in"):
        PipelineProps(processing=LongQueue())


# -- orchestration and refit props -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("confidence_threshold", 0.0, r"confidence_threshold must be in \(0, 1\]"),
        ("confidence_threshold", 1.5, r"confidence_threshold must be in \(0, 1\]"),
        ("max_object_bytes", 0, "max_object_bytes must be positive"),
        ("state_machine_name", "feature pipeline", "state_machine_name 'feature pipeline' must be 1-80"),
        ("glue_database", "Features", "glue_database 'Features' must be 1-255 characters"),
        ("answers_prefix", "answers", "answers_prefix 'answers' must be a key prefix"),
    ],
)
def test_invalid_orchestration_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OrchestrationProps(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("refit_schedule", "weekly", "refit_schedule 'weekly' is not an EventBridge Scheduler expression"),
        ("pca_min_images", 0, "pca_min_images must be positive"),
        ("classifier_min_per_class", 0, "classifier_min_per_class must be positive"),
        ("schedule_name", "a" * 65, "schedule_name .* must be 1-64 characters"),
        ("state_machine_name", "", "state_machine_name '' must be 1-80"),
        ("features_prefix", "/store/", "features_prefix '/store/' must be a key prefix"),
    ],
)
def test_invalid_refit_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RefitProps(**{field: value})


@pytest.mark.parametrize("expression", ["", "rate(7 days)", "cron(0 3 ? * MON *)", "at(2030-01-01T00:00:00)"])
def test_refit_schedule_accepts_scheduler_expressions_or_nothing(expression: str) -> None:
    assert RefitProps(refit_schedule=expression).refit_schedule == expression


# -- templates -------------------------------------------------------------------------------------


def _resources(stack) -> JobResources:
    application = emr.CfnApplication(stack, "Application", release_label="emr-7.12.0", type="Spark")
    return JobResources(
        application_id=application.attr_application_id,
        application_arn=application.attr_arn,
        job_role=iam.Role(stack, "JobRole", assumed_by=iam.ServicePrincipal("emr-serverless.amazonaws.com")),
        results=s3.Bucket(stack, "Results"),
        artifacts=s3.Bucket(stack, "Artifacts"),
        alerts=sns.Topic(stack, "Alerts"),
    )


def _definition(machine: dict) -> dict:
    return json.loads(resolve_join(machine["Properties"]["DefinitionString"]))


def test_the_feature_pipeline_follows_the_props() -> None:
    spark = SparkJobProps(job_timeout_minutes=45, job_failure_retries=0, log_retention_days=7)
    props = OrchestrationProps(
        state_machine_name="batches",
        spark=spark,
        features_prefix="store/",
        answers_prefix="replies/",
        glue_database="my_db",
        max_object_bytes=1000,
        confidence_threshold=0.8,
    )
    p = probe(lambda stack: Orchestration(stack, "Orchestration", props, resources=_resources(stack)))
    (machine,) = p.resources("AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["StateMachineName"] == "batches"
    assert _definition(machine)["TimeoutSeconds"] == spark.state_machine_timeout_minutes(1) * 60
    task = _definition(machine)["States"]["RunFeatureJob"]
    assert task["Parameters"]["ExecutionTimeoutMinutes"] == 45
    assert task["TimeoutSeconds"] == (45 + 45 + 30) * 60  # queue + execution + start
    assert [r["ErrorEquals"] for r in task["Retry"]] == [
        ["EMRServerless.ThrottlingException", "EMRServerless.InternalServerException"]
    ]  # no retry of a failed run when job_failure_retries is 0
    arguments = task["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments.$"]
    for expected in ("/store'", "/replies'", "'--glue-database', 'my_db'", "'--max-file-bytes', '1000'"):
        assert expected in arguments
    assert arguments.endswith(", '--region', 'eu-west-3')")
    assert "'--confidence-threshold', '0.8'" in arguments
    p.template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/aws/vendedlogs/states/batches", "RetentionInDays": 7}
    )


def test_the_refit_follows_the_props() -> None:
    props = RefitProps(
        state_machine_name="refit",
        schedule_name="nightly",
        refit_schedule="cron(0 3 * * ? *)",
        refit_trains_classifier=False,
        pca_min_images=50,
    )
    p = probe(lambda stack: Refit(stack, "Refit", props, resources=_resources(stack)))
    (machine,) = p.resources("AWS::StepFunctions::StateMachine").values()
    states = _definition(machine)["States"]
    jobs = [k for k, v in states.items() if v["Type"] == "Task" and "emr-serverless" in v["Resource"]]
    assert jobs == ["FitPca", "PromotePca", "BackfillPca"]  # no classifier steps
    for job in jobs:  # every job gets the stack's region explicitly
        assert states[job]["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments"][-2:] == [
            "--region",
            "eu-west-3",
        ]
    assert states["FitPca"]["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments"][-4:-2] == [
        "--min-images",
        "50",
    ]
    (schedule,) = p.resources("AWS::Scheduler::Schedule").values()
    assert (schedule["Properties"]["Name"], schedule["Properties"]["ScheduleExpression"]) == (
        "nightly",
        "cron(0 3 * * ? *)",
    )
