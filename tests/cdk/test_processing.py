"""ProcessingProps: defaults, validation, and the application and job role Processing derives from them."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import aws_s3 as s3
from cdk_helpers import as_list, policy_statements, probe, resolve_join

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.processing import Processing
from cdk_app.processing_props import JOB_PREFIXES, ProcessingProps


def test_defaults_are_the_configuration_defaults() -> None:
    props = ProcessingProps()
    assert props == PipelineConfig().processing_props()
    assert (props.application_name, props.emr_release_label, props.glue_database) == (
        "fruits-features",
        "emr-7.12.0",
        "fruits_features",
    )
    assert (props.emr_max_vcpu, props.emr_max_memory_gb, props.emr_max_disk_gb) == (32, 128, 640)
    assert (props.emr_idle_timeout_minutes, props.emr_max_concurrent_runs, props.job_timeout_minutes) == (
        5,
        2,
        120,
    )


def test_every_prefix_of_the_job_role_comes_from_the_configuration() -> None:
    config = PipelineConfig(**{name: f"{name.removesuffix('_prefix')}-x/" for name in JOB_PREFIXES})
    props = config.processing_props()
    assert {name: getattr(props, name) for name in JOB_PREFIXES} == {
        name: getattr(config, name) for name in JOB_PREFIXES
    }
    assert set(JOB_PREFIXES) == {f.name for f in dataclasses.fields(props) if f.name.endswith("_prefix")}


@pytest.mark.parametrize(("job_timeout", "queue_timeout"), [(5, 15), (120, 120), (720, 720), (2000, 720)])
def test_queue_timeout_is_the_job_timeout_within_emr_limits(job_timeout: int, queue_timeout: int) -> None:
    assert ProcessingProps(job_timeout_minutes=job_timeout).queue_timeout_minutes == queue_timeout


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("emr_max_vcpu", 3, "emr_max_vcpu must be at least 4"),
        ("emr_max_memory_gb", 0, "emr_max_memory_gb must be positive"),
        ("emr_max_disk_gb", -1, "emr_max_disk_gb must be positive"),
        ("job_timeout_minutes", 0, "job_timeout_minutes must be positive"),
        ("emr_idle_timeout_minutes", 0, "emr_idle_timeout_minutes must be between 1 and 10080"),
        ("emr_idle_timeout_minutes", 10081, "emr_idle_timeout_minutes must be between 1 and 10080"),
        ("emr_max_concurrent_runs", 1001, "emr_max_concurrent_runs must be between 1 and 1000"),
        ("emr_release_label", "7.12.0", "emr_release_label '7.12.0' must be an EMR release label"),
        ("application_name", "a" * 65, "application_name .* must be 1-64 characters"),
        ("glue_database", "fruits-features", "glue_database 'fruits-features' must be 1-255 characters"),
        ("pca_models_prefix", "pca", "pca_models_prefix 'pca' must be a key prefix"),
        ("classifiers_prefix", "/c/", "classifiers_prefix '/c/' must be a key prefix"),
    ],
)
def test_invalid_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProcessingProps(**{field: value})


@pytest.fixture(scope="module")
def custom():
    props = ProcessingProps(
        application_name="spark-app",
        emr_release_label="emr-7.11.0",
        emr_max_vcpu=8,
        emr_max_memory_gb=40,
        emr_max_disk_gb=100,
        emr_idle_timeout_minutes=3,
        emr_max_concurrent_runs=7,
        job_timeout_minutes=900,
        glue_database="my_db",
        uploads_prefix="in/",
        curated_prefix="labelled/",
        features_prefix="store/",
        answers_prefix="replies/",
    )

    def build(stack):
        buckets = {
            name: s3.Bucket(stack, name.capitalize()) for name in ("ingestion", "results", "artifacts")
        }
        return Processing(stack, "Processing", props, **buckets)

    return probe(build)


def test_the_application_follows_the_props(custom) -> None:
    (app,) = custom.resources("AWS::EMRServerless::Application").values()
    props = app["Properties"]
    assert (props["Name"], props["ReleaseLabel"]) == ("spark-app", "emr-7.11.0")
    assert props["MaximumCapacity"] == {"Cpu": "8 vCPU", "Memory": "40 GB", "Disk": "100 GB"}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 3}
    assert props["SchedulerConfiguration"] == {"MaxConcurrentRuns": 7, "QueueTimeoutMinutes": 720}


def test_the_job_role_follows_the_props_prefixes(custom) -> None:
    role = custom.stack.get_logical_id(custom.construct.job_role.node.default_child)
    statements = {s["Sid"]: s for s in policy_statements(custom.template_json, role)}
    resources = {
        sid: sorted(resolve_join(r) for r in as_list(s["Resource"])) for sid, s in statements.items()
    }
    # App uploads and curated data, nothing else of the ingestion bucket (not the staged photos).
    assert [r.split("}/")[-1] for r in resources["ReadUploads"]] == ["in/*", "labelled/*"]
    assert statements["ListUploads"]["Condition"]["StringLike"]["s3:prefix"] == ["in/*", "labelled/*"]
    assert [r.split("}/")[-1] for r in resources["ReadWriteFeatureStore"]] == [
        "store",
        "store/*",
        "store_$folder$",
    ]
    assert [r.split("}/")[-1] for r in resources["WriteAnswers"]] == ["replies/*"]
    assert [r.split(":")[-1] for r in resources["RegisterBatchPartitions"]] == [
        "catalog",
        "database/my_db",
        "table/my_db/errors",
        "table/my_db/features",
    ]
