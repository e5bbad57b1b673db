"""Shared fixtures for the ingest Lambda tests: event builders and a moto world.

The moto world wires S3 -> SQS notifications like production, so handler tests feed the
Lambda with the very messages S3 put in the queue (including the initial s3:TestEvent).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.ingest import config as cfg
from lambdas.ingest.aws import default_clients
from tests.lambdas.builders import (
    ACCOUNT,
    ARTIFACTS_BUCKET,
    INGEST_BUCKET,
    JPEG_BYTES,
    QUEUE_NAME,
    REGION,
    STATE_MACHINE_NAME,
    sqs_record,
)


@dataclass
class FakeLambdaContext:
    function_name: str = "fruits-ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fruits-ingest"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


# ---------------------------------------------------------------- moto world


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region; fresh boto3 clients for each test."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    default_clients.cache_clear()
    yield
    default_clients.cache_clear()


@dataclass
class AwsWorld:
    """Buckets, queue (fed by S3 notifications) and state machine inside moto."""

    s3: Any
    sqs: Any
    sfn: Any
    queue_url: str
    state_machine_arn: str

    def upload(self, key: str, body: bytes = JPEG_BYTES) -> None:
        self.s3.put_object(Bucket=INGEST_BUCKET, Key=key, Body=body)

    def receive_records(self) -> list[dict[str, Any]]:
        """Drain the queue into Lambda SQS records (the messages S3 sent)."""
        records: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return records
            records += [sqs_record(m["Body"], m["MessageId"]) for m in messages]

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

    def execution_input(self, execution_arn: str) -> dict[str, Any]:
        return json.loads(self.sfn.describe_execution(executionArn=execution_arn)["input"])

    def manifest_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=ARTIFACTS_BUCKET)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def read_text(self, uri: str) -> str:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


@pytest.fixture
def aws(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        for bucket in (INGEST_BUCKET, ARTIFACTS_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        # No prefix/suffix filter: the Lambda must cope with whatever the bucket sends.
        s3.put_bucket_notification_configuration(
            Bucket=INGEST_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        state_machine_arn = sfn.create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/fruits-pipeline",
        )["stateMachineArn"]
        monkeypatch.setenv(cfg.ENV_STATE_MACHINE_ARN, state_machine_arn)
        monkeypatch.setenv(cfg.ENV_MANIFEST_BUCKET, ARTIFACTS_BUCKET)
        monkeypatch.setenv(cfg.ENV_MANIFEST_PREFIX, "manifests/")
        monkeypatch.setenv(cfg.ENV_UPLOADS_PREFIX, "uploads/")
        monkeypatch.setenv(cfg.ENV_MAX_OBJECT_BYTES, "1000")
        yield AwsWorld(s3=s3, sqs=sqs, sfn=sfn, queue_url=queue_url, state_machine_arn=state_machine_arn)
