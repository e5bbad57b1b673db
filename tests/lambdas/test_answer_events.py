"""The answer Lambda's event parsing and configuration: S3's EventBridge "Object Created" message."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lambdas.answer.config import ConfigError, load_config
from lambdas.answer.events import MalformedEvent, Skip, SkipReason, Upload, parse_event

FIXTURE = Path(__file__).parent / "events" / "eventbridge-object-created.json"


def object_created(key: str | None = None, **changes: object) -> dict:
    """The fixture (shaped like S3's EventBridge message), with another key or top-level fields."""
    event = json.loads(FIXTURE.read_text())
    if key is not None:
        event["detail"]["object"]["key"] = key
    event.update(changes)
    return event


def test_the_fixture_is_an_upload_with_its_key_url_decoded() -> None:
    upload = parse_event(object_created(), uploads_prefix="uploads/")
    assert upload == Upload(
        bucket="fruits-ingestion-example",
        key="uploads/eu-west-3:0b5c6d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e/7d1f0c2e-photo.jpg",
        size=5310,
    )
    assert upload.uri == f"s3://fruits-ingestion-example/{upload.key}"


def test_spaces_and_plus_signs_are_decoded_like_every_s3_notification() -> None:
    upload = parse_event(object_created("uploads/Kiwi/k+1%2B2.jpg"), uploads_prefix="uploads/")
    assert upload.key == "uploads/Kiwi/k 1+2.jpg"


def test_other_prefixes_and_event_types_are_skipped_without_naming_the_key() -> None:
    outside = parse_event(object_created("curated/Kiwi/k.jpg"), uploads_prefix="uploads/")
    assert outside == Skip(SkipReason.OUTSIDE_UPLOADS_PREFIX, "key is not under 'uploads/'")
    deleted = parse_event(object_created(**{"detail-type": "Object Deleted"}), uploads_prefix="uploads/")
    assert isinstance(deleted, Skip) and deleted.reason is SkipReason.NOT_OBJECT_CREATED
    assert "Kiwi" not in outside.detail


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "aws.ec2"}, "source is 'aws.ec2'"),
        ({"detail": {}}, "not an S3 EventBridge event"),
        ({"detail": {"bucket": {"name": ""}, "object": {"key": "uploads/k.jpg"}}}, "non-empty"),
    ],
)
def test_what_is_not_s3s_message_is_refused(change: dict, message: str) -> None:
    event = copy.deepcopy(object_created())
    event.update(change)
    with pytest.raises(MalformedEvent, match=message):
        parse_event(event, uploads_prefix="uploads/")


def test_a_negative_size_is_refused() -> None:
    event = object_created()
    event["detail"]["object"]["size"] = -1
    with pytest.raises(MalformedEvent, match="size"):
        parse_event(event, uploads_prefix="uploads/")


# ------------------------------------------------------------------------------- configuration

ENVIRONMENT = {
    "ANSWERS_ROOT": "s3://results/answers",
    "PCA_MODEL_DIR": "s3://artifacts/pca-models",
    "CLASSIFIER_DIR": "s3://artifacts/classifiers",
    "UPLOADS_PREFIX": "uploads/",
}


def test_configuration_from_the_environment_with_defaults() -> None:
    config = load_config(ENVIRONMENT)
    assert (config.answers_root, config.uploads_prefix) == ("s3://results/answers", "uploads/")
    assert config.max_object_bytes == 50 * 1024 * 1024 and config.confidence_threshold == 0.5
    assert config.models_ttl_seconds == 60
    tuned = load_config({**ENVIRONMENT, "MODELS_TTL_SECONDS": "5", "CONFIDENCE_THRESHOLD": "0.7"})
    assert (tuned.models_ttl_seconds, tuned.confidence_threshold) == (5.0, 0.7)


def test_missing_and_invalid_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="ANSWERS_ROOT, UPLOADS_PREFIX"):
        load_config({"PCA_MODEL_DIR": "x", "CLASSIFIER_DIR": "y"})
    with pytest.raises(ConfigError, match="MAX_OBJECT_BYTES must be a whole number >= 1"):
        load_config({**ENVIRONMENT, "MAX_OBJECT_BYTES": "0"})
    with pytest.raises(ConfigError, match="MODELS_TTL_SECONDS"):
        load_config({**ENVIRONMENT, "MODELS_TTL_SECONDS": "soon"})
