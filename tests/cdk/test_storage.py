"""StorageProps: defaults, validation, and the lifecycle rules the Storage construct derives from them."""

from __future__ import annotations

import pytest
from cdk_helpers import probe

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.storage import Storage
from cdk_app.storage_props import StorageProps


def test_defaults_are_the_configuration_defaults() -> None:
    props = StorageProps()
    assert props == PipelineConfig().storage_props()
    assert (props.uploads_prefix, props.upload_retention_days, props.access_log_retention_days) == (
        "uploads/",
        7,
        90,
    )


def test_the_configuration_passes_its_storage_settings() -> None:
    props = PipelineConfig(upload_retention_days=3, answers_prefix="out/").storage_props()
    assert (props.upload_retention_days, props.answers_prefix) == (3, "out/")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("uploads_prefix", "uploads", "uploads_prefix 'uploads' must be a key prefix"),
        ("answers_prefix", "/answers/", "answers_prefix '/answers/' must be a key prefix"),
        ("emr_logs_prefix", "/", "must be a key prefix"),
        ("upload_retention_days", 0, "upload_retention_days must be positive"),
        ("answer_retention_days", -1, "answer_retention_days must be positive"),
        ("noncurrent_version_retention_days", 0, "noncurrent_version_retention_days must be positive"),
        ("abort_multipart_days", 0, "abort_multipart_days must be positive"),
    ],
)
def test_invalid_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StorageProps(**{field: value})


def test_lifecycle_rules_follow_the_props() -> None:
    props = StorageProps(
        uploads_prefix="in/",
        staging_prefix="staged/",
        manifests_prefix="lists/",
        answers_prefix="replies/",
        emr_logs_prefix="spark-logs/",
        upload_retention_days=2,
        staging_retention_days=1,
        answer_retention_days=9,
        manifest_retention_days=4,
        log_retention_days=5,
        access_log_retention_days=60,
        noncurrent_version_retention_days=6,
        abort_multipart_days=3,
    )
    p = probe(lambda stack: Storage(stack, "Storage", props))
    storage = p.construct
    buckets = (storage.ingestion, storage.results, storage.artifacts, storage.access_logs)
    rules = {id(b): p.properties(b)["LifecycleConfiguration"]["Rules"] for b in buckets}
    expiring = {
        rule["Id"]: (rule.get("Prefix"), rule["ExpirationInDays"])
        for bucket_rules in rules.values()
        for rule in bucket_rules
        if "ExpirationInDays" in rule
    }
    assert expiring == {
        "expire-raw-uploads": ("in/", 2),
        "expire-staged-uploads": ("staged/", 1),
        "expire-answers": ("replies/", 9),
        "expire-manifests": ("lists/", 4),
        "expire-emr-logs": ("spark-logs/", 5),
        "expire-access-logs": (None, 60),
    }
    for bucket in (storage.results, storage.artifacts):
        assert {
            "Id": "expire-old-versions-and-abort-multipart",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 6},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
            "Status": "Enabled",
        } in rules[id(bucket)]
    assert len(p.resources("AWS::S3::Bucket")) == 4
