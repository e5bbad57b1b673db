"""Configuration from environment variables."""

from __future__ import annotations

import pytest

from lambdas.ingest.config import (
    DEFAULT_MAX_OBJECT_BYTES,
    ENV_MANIFEST_BUCKET,
    ENV_STATE_MACHINE_ARN,
    ConfigError,
    IngestConfig,
    load_config,
    normalise_prefix,
)

ARN = "arn:aws:states:eu-west-3:123456789012:stateMachine:fruits"


def test_defaults_apply_when_only_required_variables_are_set() -> None:
    config = load_config({"STATE_MACHINE_ARN": ARN, "MANIFEST_BUCKET": "artifacts"})
    assert config == IngestConfig(
        state_machine_arn=ARN,
        manifest_bucket="artifacts",
        manifest_prefix="manifests/",
        uploads_prefix="uploads/",
        curated_prefix="curated/",
        max_object_bytes=52428800,
    )
    assert DEFAULT_MAX_OBJECT_BYTES == 52428800


def test_all_variables_are_read_and_prefixes_normalised() -> None:
    config = load_config(
        {
            "STATE_MACHINE_ARN": ARN,
            "MANIFEST_BUCKET": "artifacts",
            "MANIFEST_PREFIX": "/runs/manifests",
            "UPLOADS_PREFIX": "incoming",
            "CURATED_PREFIX": "/datasets/",
            "MAX_OBJECT_BYTES": "2048",
        }
    )
    assert (
        config.manifest_prefix,
        config.uploads_prefix,
        config.curated_prefix,
        config.max_object_bytes,
    ) == (
        "runs/manifests/",
        "incoming/",
        "datasets/",
        2048,
    )


@pytest.mark.parametrize("missing", [ENV_STATE_MACHINE_ARN, ENV_MANIFEST_BUCKET])
def test_missing_required_variable_is_named(missing: str) -> None:
    env = {"STATE_MACHINE_ARN": ARN, "MANIFEST_BUCKET": "artifacts"}
    env[missing] = "  "
    with pytest.raises(ConfigError, match=missing):
        load_config(env)


def test_both_missing_variables_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({})
    assert "STATE_MACHINE_ARN" in str(info.value) and "MANIFEST_BUCKET" in str(info.value)


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_invalid_max_object_bytes_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match="MAX_OBJECT_BYTES"):
        load_config({"STATE_MACHINE_ARN": ARN, "MANIFEST_BUCKET": "b", "MAX_OBJECT_BYTES": value})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("uploads/", "uploads/"), ("uploads", "uploads/"), ("/a/b/", "a/b/"), ("", ""), ("/", "")],
)
def test_normalise_prefix(raw: str, expected: str) -> None:
    assert normalise_prefix(raw) == expected
