"""PipelineProps: how the configuration assembles every construct's props, and what they must agree on."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template
from cdk_helpers import cdk_json_context

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.orchestration_props import OrchestrationProps
from cdk_app.stack import PipelineStack
from cdk_app.stack_props import PipelineProps
from cdk_app.storage_props import StorageProps

#: A valid configuration in which every setting differs from its default.
CUSTOM = {
    "region": "eu-west-1",
    "name_prefix": "fx-test",
    "uploads_prefix": "u1/",
    "curated_prefix": "cu1/",
    "staging_prefix": "st1/",
    "manifests_prefix": "m1/",
    "models_prefix": "mo1/",
    "pca_models_prefix": "p1/",
    "code_prefix": "c1/",
    "emr_logs_prefix": "l1/",
    "features_prefix": "f1/",
    "classifiers_prefix": "k1/",
    "answers_prefix": "a1/",
    "upload_retention_days": 2,
    "staging_retention_days": 3,
    "answer_retention_days": 3,
    "manifest_retention_days": 4,
    "log_retention_days": 5,
    "access_log_retention_days": 6,
    "noncurrent_version_retention_days": 7,
    "abort_multipart_days": 2,
    "emr_release_label": "emr-7.11.0",
    "emr_max_vcpu": 64,
    "emr_max_memory_gb": 256,
    "emr_max_disk_gb": 700,
    "emr_idle_timeout_minutes": 6,
    "emr_max_concurrent_runs": 3,
    "job_timeout_minutes": 90,
    "executor_cores": 4,
    "executor_memory_gb": 6,
    "executor_memory_overhead_gb": 3,
    "driver_cores": 2,
    "driver_memory_gb": 4,
    "driver_memory_overhead_gb": 3,
    "refit_driver_cores": 4,
    "refit_driver_memory_gb": 20,
    "refit_driver_memory_overhead_gb": 5,
    "initial_executors": 2,
    "job_failure_retries": 2,
    "refit_schedule": "rate(1 day)",
    "pca_min_images": 500,
    "classifier_min_per_class": 3,
    "confidence_threshold": 0.7,
    "refit_trains_classifier": False,
    "batch_window_seconds": 60,
    "batch_size": 500,
    "ingest_max_concurrency": 4,
    "ingest_timeout_seconds": 30,
    "max_object_bytes": 1000,
    "dlq_max_receive_count": 4,
    "powertools_layer_version": 25,
    "powertools_log_level": "DEBUG",
    "upload_grant_seconds": 120,
    "uploads_per_identity": 30,
    "quota_window_seconds": 600,
    "app_api_rate_limit": 20,
    "app_api_burst_limit": 40,
    "app_api_timeout_seconds": 15,
    "budget_monthly_usd": 20.0,
    "alert_email": "ops@example.com",
    "bootstrap_qualifier": "abc",
    "image_retention_count": 3,
    "weights_file": "w.h5",
    "python_path": "/usr/bin/python3",
    "answer_memory_mb": 3008,
    "answer_architecture": "arm64",
    "answer_timeout_seconds": 20,
    "answer_max_concurrency": 5,
    "answer_models_ttl_seconds": 30,
    "answer_delivery_retries": 1,
    "answer_invoke_retries": 1,
    "answer_max_event_age_seconds": 120,
}


def _all_props(config: PipelineConfig) -> list[object]:
    props = config.props()
    parts = [getattr(props, f.name) for f in dataclasses.fields(props) if f.name != "project_tag"]
    return [*parts, props.orchestration.spark, config.image_props()]


def test_the_custom_configuration_changes_every_setting() -> None:
    default, custom = PipelineConfig(), PipelineConfig(**CUSTOM)
    assert set(CUSTOM) == {f.name for f in dataclasses.fields(PipelineConfig)}
    assert [name for name in CUSTOM if getattr(custom, name) == getattr(default, name)] == []


def test_every_setting_reaches_the_props_named_like_it() -> None:
    config = PipelineConfig(**CUSTOM)
    reached: set[str] = set()
    for props in _all_props(config):
        for f in dataclasses.fields(props):  # type: ignore[arg-type]
            if f.name in CUSTOM:
                assert getattr(props, f.name) == CUSTOM[f.name], f"{type(props).__name__}.{f.name}"
                reached.add(f.name)
    # region and name_prefix reach the props through the names (see the next test) and the tag.
    assert set(CUSTOM) - reached == {"region", "name_prefix"}


def test_physical_names_reach_the_props() -> None:
    config = PipelineConfig(**CUSTOM)
    names, props = config.names(), config.props()
    assert props.project_tag == "fx-test"
    assert (props.ingest.queue_name, props.ingest.dead_letter_queue_name) == (
        names.upload_queue,
        names.upload_dlq,
    )
    assert props.ingest.function_name == names.ingest_function
    assert props.orchestration.state_machine_name == props.ingest.state_machine_name == names.state_machine
    assert (props.refit.state_machine_name, props.refit.schedule_name) == (
        names.refit_state_machine,
        names.refit_schedule,
    )
    assert props.processing.application_name == names.emr_application == "fx-test-features"
    assert props.catalog.database_name == names.glue_database == "fx_test_features"
    assert props.alerts.topic_name == names.alerts_topic
    assert props.monitoring.budget_name == names.budget == "fx-test-monthly-eu-west-1"
    assert config.image_props().repository_name == names.image_repository
    answer = props.answer
    assert (answer.function_name, answer.rule_name, answer.dead_letter_queue_name) == (
        "fx-test-answer",
        "fx-test-answer-uploads",
        "fx-test-answer-dlq",
    )
    assert config.image_props().lambda_functions == (names.answer_function,)


def test_defaults_are_the_configuration_defaults() -> None:
    assert PipelineProps() == PipelineConfig().props()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"storage": StorageProps(uploads_prefix="in/")},
            r"uploads_prefix must be the same in every construct's props "
            r"\(storage: 'in/', processing: 'uploads/', ingest: 'uploads/', answer: 'uploads/', "
            r"app_access: 'uploads/'\)",
        ),
        (
            {"orchestration": OrchestrationProps(state_machine_name="other")},
            "feature state machine name must be the same",
        ),
        ({"orchestration": OrchestrationProps(max_object_bytes=1)}, "max_object_bytes must be the same"),
        ({"project_tag": ""}, "project_tag '' must be non-empty"),
    ],
)
def test_props_that_disagree_on_a_shared_value_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PipelineProps(**overrides)


def test_the_stack_is_built_from_its_props_alone(synth) -> None:
    app = App(analytics_reporting=False, context=cdk_json_context())
    stack = PipelineStack(app, "Probe", PipelineProps(), env=Environment(region="eu-west-3"))
    assert stack.config is None
    resources = Template.from_stack(stack).to_json()["Resources"]
    assert sorted(r["Type"] for r in resources.values()) == sorted(
        r["Type"] for r in synth.template_json["Resources"].values()
    )
