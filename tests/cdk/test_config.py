"""The typed configuration: EU-only guard, context overrides, unknown keys, validation and derived names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from cdk_helpers import cdk_json_context

from cdk_app.app import build_app
from cdk_app.config import DEFAULT_REGION, EU_REGIONS, ConfigError, PipelineConfig
from cdk_app.context import is_cdk_key


def context(**values: object) -> SimpleNamespace:
    """A stand-in for a construct whose node holds these context values."""
    return SimpleNamespace(node=SimpleNamespace(get_all_context=lambda: dict(values)))


def test_default_region_is_paris() -> None:
    assert PipelineConfig().region == DEFAULT_REGION == "eu-west-3"


@pytest.mark.parametrize("region", EU_REGIONS)
def test_every_eu_region_is_accepted(region: str) -> None:
    assert PipelineConfig(region=region).region == region
    assert PipelineConfig.from_context(context(region=region)).region == region


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "us-west-2",
        "ap-southeast-1",
        "ca-central-1",
        "il-central-1",
        "me-central-1",
        "sa-east-1",
        # European but outside the EU: not accepted for data that must stay in the EU.
        "eu-west-2",
        "eu-central-2",
        "",
        "EU-WEST-3",
    ],
)
def test_non_eu_region_fails_with_a_clear_message(region: str) -> None:
    with pytest.raises(ConfigError, match=r"not an EU region.*GDPR.*eu-west-3"):
        PipelineConfig(region=region)


def test_non_eu_region_fails_the_app_before_any_stack_is_built() -> None:
    from aws_cdk import App

    app = App(context={"region": "us-east-1"})
    with pytest.raises(ConfigError, match="'us-east-1' is not an EU region"):
        build_app(app)
    assert not app.node.children


def test_eu_regions_are_all_in_the_eu_partition() -> None:
    assert all(region.startswith("eu-") for region in EU_REGIONS)
    assert "eu-west-2" not in EU_REGIONS and "eu-central-2" not in EU_REGIONS  # London, Zurich


def test_context_strings_are_converted_to_field_types() -> None:
    config = PipelineConfig.from_context(
        context(
            region="eu-central-1",
            upload_retention_days="3",
            emr_max_vcpu="64",
            batch_window_seconds="30",
            budget_monthly_usd="12.5",
            alert_email="ops@example.com",
        )
    )
    assert config.region == "eu-central-1"
    assert config.upload_retention_days == 3
    assert config.emr_max_vcpu == 64
    assert config.batch_window_seconds == 30
    assert config.budget_monthly_usd == 12.5
    assert config.alert_email == "ops@example.com"


def test_context_from_cdk_json_may_hold_native_types() -> None:
    config = PipelineConfig.from_context(context(upload_retention_days=5, budget_monthly_usd=20))
    assert config.upload_retention_days == 5
    assert config.budget_monthly_usd == 20.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("upload_retention_days", "seven", "not a valid int"),
        ("upload_retention_days", "0", "must be positive"),
        ("emr_max_vcpu", "2", "at least 4"),
        ("batch_window_seconds", "301", "between 0 and 300"),
        ("batch_size", "20000", "between 1 and 10000"),
        ("alert_email", "not-an-address", "not an e-mail address"),
        ("name_prefix", "Fruits_App", "name_prefix"),
        ("uploads_prefix", "uploads", "key prefix"),
        ("budget_monthly_usd", "-1", "must be positive"),
        ("initial_executors", "0", "initial_executors must be between 1"),
        ("initial_executors", "16", "initial_executors must be between 1"),  # 15 fit under 32 vCPU
    ],
)
def test_invalid_settings_are_rejected(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_context(context(**{key: value}))


def test_large_batches_need_a_batching_window() -> None:
    with pytest.raises(ConfigError, match="batch_window_seconds >= 1"):
        PipelineConfig(batch_size=100, batch_window_seconds=0)
    assert PipelineConfig(batch_size=10, batch_window_seconds=0).batch_size == 10


def test_names_are_deterministic_and_none_names_a_bucket() -> None:
    config = PipelineConfig(region="eu-south-2", name_prefix="fruits-prod-eu")
    names = config.names()
    assert names == config.names()
    assert names.state_machine == "fruits-prod-eu-feature-pipeline"
    assert names.image_repository == "fruits-prod-eu-spark-image"
    assert not any("bucket" in field for field in vars(names))


def test_shared_prefixes_come_from_the_ingest_lambda_config() -> None:
    from lambdas.ingest import config as ingest_config

    config = PipelineConfig()
    assert config.uploads_prefix == ingest_config.DEFAULT_UPLOADS_PREFIX == "uploads/"
    assert config.manifests_prefix == ingest_config.DEFAULT_MANIFEST_PREFIX == "manifests/"
    assert config.max_object_bytes == 52428800
    assert (config.models_prefix, config.pca_models_prefix, config.code_prefix) == (
        "models/",
        "pca-models/",
        "code/",
    )


# -- unknown context keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("regoin", r"^unknown context key 'regoin' \(did you mean 'region'\?\): the settings are"),
        ("Region", r"'Region' \(did you mean 'region'\?\)"),
        ("name-prefix", r"'name-prefix' \(did you mean 'name_prefix'\?\)"),
        ("uploads_retention_days", r"did you mean 'upload_retention_days'\?"),
        ("no_such_key", r"^unknown context key 'no_such_key' \(no setting has a similar name\)"),
    ],
)
def test_an_unknown_context_key_is_refused_with_the_closest_setting(key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        PipelineConfig.from_context(context(**{key: "eu-west-1"}))
    assert "\n" not in str(error.value)


def test_every_unknown_key_is_named_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"unknown context keys 'regoin' .*, 'batchsize' .*'batch_size'"):
        PipelineConfig.from_context(context(region="eu-west-1", regoin="x", batchsize="5"))


@pytest.mark.parametrize(
    "key",
    [
        *cdk_json_context(),  # feature flags, including "@aws-cdk-containers/..."
        "aws:cdk:enable-path-metadata",  # injected by the CLI
        "aws:cdk:enable-asset-metadata",
        "aws:cdk:bundling-stacks",
        "aws:cdk:disable-version-reporting",
        "aws:cdk:version-reporting",  # App(analytics_reporting=...)
        "aws-cdk:enableDiffNoFail",
        "cdk-migrate",
        "acknowledged-issue-numbers",  # `cdk acknowledge` writes it into cdk.context.json
        "cli-telemetry",  # `cdk cli-telemetry --disable` writes it into cdk.json
        "availability-zones:account=111122223333:region=eu-west-1",  # cached lookups (cdk.context.json)
        "ssm:account=111122223333:parameterName=/fruits/x:region=eu-west-1",
    ],
)
def test_cdk_s_own_context_keys_are_accepted(key: str) -> None:
    assert is_cdk_key(key)
    assert PipelineConfig.from_context(context(**{key: True})) == PipelineConfig()


@pytest.mark.parametrize("key", ["regoin", "aws_cdk", "cdk_region", "acknowledged", "@region"])
def test_only_cdk_s_own_keys_are_cdk_keys(key: str) -> None:
    assert not is_cdk_key(key)


def test_an_unknown_context_key_fails_the_app_before_any_stack_is_built() -> None:
    from aws_cdk import App

    app = App(context={**cdk_json_context(), "regoin": "eu-west-1"})
    with pytest.raises(ConfigError, match="did you mean 'region'"):
        build_app(app)
    assert not app.node.children


def test_a_null_context_value_keeps_the_default() -> None:
    assert PipelineConfig.from_context(context(region=None)).region == DEFAULT_REGION
