"""Builders of realistic S3 notification and SQS Lambda events (pure, no AWS)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

REGION = "eu-west-3"
ACCOUNT = "123456789012"
INGEST_BUCKET = "fruits-ingest-test"
ARTIFACTS_BUCKET = "fruits-artifacts-test"
QUEUE_NAME = "fruits-ingest-events"
STATE_MACHINE_NAME = "fruits-pipeline"
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # content is never read by the Lambda


def s3_record(
    key: str,
    *,
    size: int = 640,
    etag: str | None = "0123456789abcdef0123456789abcdef",
    event_name: str = "ObjectCreated:Put",
    bucket: str = INGEST_BUCKET,
    sequencer: str | None = "0062E99A88DC407460",
    encode: bool = True,
) -> dict[str, Any]:
    """An S3 event record as S3 sends it; ``key`` is given decoded and URL-encoded like S3 does."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/") if encode else key, "size": size}
    if etag is not None:
        obj["eTag"] = etag
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2025-11-23T12:00:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads",
            "bucket": {
                "name": bucket,
                "arn": f"arn:aws:s3:::{bucket}",
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
            },
            "object": obj,
        },
    }


def s3_body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def s3_test_event_body(bucket: str = INGEST_BUCKET) -> str:
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2025-11-23T12:00:00.000Z",
            "Bucket": bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YhtkW5H3P6QFZsc2vGIXzm7t0/ZU4s0=",
        }
    )


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    """A record of the event Lambda receives from an SQS event source mapping."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1763899200000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1763899200001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}",
        "awsRegion": REGION,
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]
