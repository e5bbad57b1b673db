"""The handler end to end in moto: S3 notifications -> SQS -> Lambda -> manifest + execution."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from lambdas.ingest.config import ConfigError
from lambdas.ingest.handler import handler
from lambdas.ingest.log import logger
from spark_app.core.manifest import ManifestEntry, batch_id_for, manifest_key, parse_manifest
from tests.lambdas.builders import (
    ARTIFACTS_BUCKET,
    INGEST_BUCKET,
    JPEG_BYTES,
    failed_ids,
    s3_body,
    s3_record,
    sqs_event,
    sqs_record,
)


def upload_all(aws: Any, keys: list[str], body: bytes = JPEG_BYTES) -> None:
    for key in keys:
        aws.upload(key, body)


def test_happy_path_writes_one_manifest_and_starts_one_execution(aws, lambda_context) -> None:
    upload_all(aws, ["uploads/Kiwi/k 1.jpg", "uploads/Pêche/p+1.png", "uploads/root.jpeg"])
    records = aws.receive_records()
    assert len(records) == 4  # the s3:TestEvent sent on notification setup + one per upload

    response = handler(sqs_event(*records), lambda_context)

    assert response == {"batchItemFailures": []}
    executions = aws.executions()
    assert len(executions) == 1
    execution_input = aws.execution_input(executions[0]["executionArn"])
    batch_id = execution_input["batch_id"]
    assert executions[0]["name"] == batch_id
    assert execution_input == {
        "batch_id": batch_id,
        "manifest_uri": f"s3://{ARTIFACTS_BUCKET}/{manifest_key('manifests/', batch_id)}",
        "image_count": 3,
    }
    assert aws.manifest_keys() == [f"manifests/{batch_id}.jsonl"]


def test_written_manifest_is_read_back_by_spark_app(aws, lambda_context) -> None:
    # Curated data is labelled by its folder; an app upload never is, whatever its folders.
    upload_all(aws, ["curated/Kiwi/k 1.jpg", "curated/Pêche/p+1.png", "uploads/Kiwi/root.jpeg"])
    handler(sqs_event(*aws.receive_records()), lambda_context)

    execution_input = aws.execution_input(aws.executions()[0]["executionArn"])
    entries = parse_manifest(aws.read_text(execution_input["manifest_uri"]))

    etag = aws.s3.head_object(Bucket=INGEST_BUCKET, Key="uploads/Kiwi/root.jpeg")["ETag"].strip('"')
    size, peach = len(JPEG_BYTES), "Pêche"
    assert entries == [
        ManifestEntry(uri=f"s3://{INGEST_BUCKET}/curated/Kiwi/k 1.jpg", label="Kiwi", size=size, etag=etag),
        ManifestEntry(uri=f"s3://{INGEST_BUCKET}/curated/{peach}/p+1.png", label=peach, size=size, etag=etag),
        ManifestEntry(uri=f"s3://{INGEST_BUCKET}/uploads/Kiwi/root.jpeg", label=None, size=size, etag=etag),
    ]
    assert batch_id_for(entries) == execution_input["batch_id"]
    # Every URI names an object that really exists in the ingestion bucket.
    for entry in entries:
        key = entry.uri.removeprefix(f"s3://{INGEST_BUCKET}/")
        assert aws.s3.head_object(Bucket=INGEST_BUCKET, Key=key)["ContentLength"] == size


def test_duplicate_delivery_starts_no_second_execution(aws, lambda_context) -> None:
    upload_all(aws, ["uploads/Kiwi/a.jpg", "uploads/Kiwi/b.jpg"])
    event = sqs_event(*aws.receive_records())

    first = handler(event, lambda_context)
    redelivered = sqs_event(*reversed(event["Records"]))  # same messages, another order
    second = handler(redelivered, lambda_context)

    assert first == second == {"batchItemFailures": []}
    assert len(aws.executions()) == 1
    assert len(aws.manifest_keys()) == 1


def test_partial_failure_reports_exactly_the_bad_messages(aws, lambda_context) -> None:
    upload_all(aws, ["uploads/Kiwi/a.jpg", "uploads/Lemon/b.jpg"])
    good = aws.receive_records()
    bad = [
        sqs_record("this is not json", "bad-json"),
        sqs_record(json.dumps({"Records": [{"eventSource": "aws:dynamodb"}]}), "bad-source"),
        sqs_record(json.dumps({"hello": "world"}), "not-s3"),
    ]
    event = sqs_event(good[0], bad[0], good[1], bad[1], good[2], bad[2])

    response = handler(event, lambda_context)

    assert failed_ids(response) == ["bad-json", "bad-source", "not-s3"]
    executions = aws.executions()
    assert len(executions) == 1
    assert aws.execution_input(executions[0]["executionArn"])["image_count"] == 2


def test_all_messages_malformed_returns_failures_instead_of_raising(aws, lambda_context) -> None:
    event = sqs_event(sqs_record("{", "m1"), sqs_record("[]", "m2"))
    assert failed_ids(handler(event, lambda_context)) == ["m1", "m2"]
    assert aws.executions() == []
    assert aws.manifest_keys() == []


def test_skipped_objects_are_acknowledged_and_start_nothing(aws, lambda_context) -> None:
    aws.upload("elsewhere/Kiwi/a.jpg")  # outside the uploads prefix
    aws.upload("uploads/Kiwi/notes.txt")  # unsupported extension
    aws.upload("uploads/Kiwi/empty.jpg", b"")  # zero size
    aws.upload("uploads/Kiwi/huge.jpg", b"\xff" * 1001)  # over MAX_OBJECT_BYTES=1000
    records = aws.receive_records()
    assert len(records) == 5  # with the s3:TestEvent

    response = handler(sqs_event(*records), lambda_context)

    assert response == {"batchItemFailures": []}
    assert aws.executions() == []
    assert aws.manifest_keys() == []


def test_skipped_and_valid_objects_mix_into_one_run(aws, lambda_context) -> None:
    aws.upload("uploads/Kiwi/ok.jpg")
    aws.upload("uploads/Kiwi/empty.jpg", b"")
    aws.upload("uploads/Kiwi/huge.jpg", b"\xff" * 1001)
    aws.upload("uploads/Kiwi/readme.md")

    assert handler(sqs_event(*aws.receive_records()), lambda_context) == {"batchItemFailures": []}

    execution_input = aws.execution_input(aws.executions()[0]["executionArn"])
    entries = parse_manifest(aws.read_text(execution_input["manifest_uri"]))
    assert [e.uri for e in entries] == [f"s3://{INGEST_BUCKET}/uploads/Kiwi/ok.jpg"]


def test_several_records_in_one_message(aws, lambda_context) -> None:
    body = s3_body(s3_record("uploads/Kiwi/a.jpg"), s3_record("uploads/Kiwi/b.jpg"), s3_record("x/c.jpg"))
    response = handler(sqs_event(sqs_record(body, "multi")), lambda_context)
    assert response == {"batchItemFailures": []}
    execution_input = aws.execution_input(aws.executions()[0]["executionArn"])
    assert execution_input["image_count"] == 2


def test_failing_start_execution_fails_only_contributing_messages(aws, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("STATE_MACHINE_ARN", aws.state_machine_arn.replace("fruits-pipeline", "missing"))
    aws.upload("uploads/Kiwi/a.jpg")
    aws.upload("uploads/Kiwi/b.jpg")
    aws.upload("uploads/Kiwi/skip.txt")
    records = aws.receive_records()  # [test event, a, b, skip]
    bad = sqs_record("garbage", "garbage")

    response = handler(sqs_event(*records, bad), lambda_context)

    contributing = [r["messageId"] for r in records if ".jpg" in r["body"]]
    assert len(contributing) == 2
    assert failed_ids(response) == [bad["messageId"], *contributing]
    assert aws.executions() == []


def test_retry_after_failed_start_succeeds_with_same_batch_id(aws, lambda_context, monkeypatch) -> None:
    good_arn = aws.state_machine_arn
    monkeypatch.setenv("STATE_MACHINE_ARN", good_arn.replace("fruits-pipeline", "missing"))
    aws.upload("uploads/Kiwi/a.jpg")
    event = sqs_event(*aws.receive_records())
    assert len(failed_ids(handler(event, lambda_context))) == 1
    manifest_written_before = aws.manifest_keys()

    monkeypatch.setenv("STATE_MACHINE_ARN", good_arn)
    assert handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(aws.executions()) == 1
    assert aws.manifest_keys() == manifest_written_before  # same content-derived key, rewritten


def test_failing_manifest_write_fails_contributing_messages_and_starts_nothing(
    aws, lambda_context, monkeypatch
) -> None:
    monkeypatch.setenv("MANIFEST_BUCKET", "no-such-bucket")
    aws.upload("uploads/Kiwi/a.jpg")
    records = aws.receive_records()

    response = handler(sqs_event(*records), lambda_context)

    assert failed_ids(response) == [r["messageId"] for r in records if "a.jpg" in r["body"]]
    assert aws.executions() == []


def test_missing_configuration_raises_naming_the_variable(aws, lambda_context, monkeypatch) -> None:
    monkeypatch.delenv("STATE_MACHINE_ARN")
    with pytest.raises(ConfigError, match="STATE_MACHINE_ARN"):
        handler(sqs_event(sqs_record(s3_body(s3_record("uploads/a.jpg")))), lambda_context)


def test_event_without_records_is_rejected(aws, lambda_context) -> None:
    with pytest.raises(ValueError, match="Records"):
        handler({"detail-type": "Object Created"}, lambda_context)


@pytest.fixture
def log_stream() -> Any:
    stream = io.StringIO()
    handler_ = logger.registered_handler
    previous = handler_.setStream(stream)  # type: ignore[attr-defined]
    level = logger.log_level
    logger.setLevel("INFO")
    yield stream
    handler_.setStream(previous)  # type: ignore[attr-defined]
    logger.setLevel(level)


def test_logs_are_structured_with_counts_and_no_keys_or_payloads(aws, lambda_context, log_stream) -> None:
    aws.upload("uploads/Jean Dupont/passport-photo.jpg")
    aws.upload("uploads/Jean Dupont/medical-scan.txt")
    event = sqs_event(*aws.receive_records(), sqs_record("secret payload that is not json", "bad"))

    handler(event, lambda_context)

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    text = log_stream.getvalue()
    assert "Jean" not in text and "passport" not in text and "medical" not in text
    assert "secret payload" not in text
    summary = next(line for line in lines if line["message"] == "Batch processed")
    assert summary["message_count"] == 4
    assert summary["malformed_count"] == 1
    assert summary["image_count"] == 1
    assert summary["skipped_counts"] == {"test_event": 1, "unsupported_extension": 1}
    assert summary["failed_message_ids"] == ["bad"]
    assert summary["batch_id"].startswith("batch-")
    assert summary["function_name"] == lambda_context.function_name
    assert {line["level"] for line in lines} <= {"INFO", "WARNING"}
