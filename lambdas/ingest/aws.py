"""The AWS edge: lazily created boto3 clients, manifest upload and execution start."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from lambdas.ingest.executions import batch_statuses, decide

MANIFEST_CONTENT_TYPE = "application/x-ndjson"
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


@dataclass(frozen=True)
class AwsClients:
    """The two clients the ingest Lambda uses."""

    s3: Any
    stepfunctions: Any


@cache
def default_clients() -> AwsClients:
    """Clients for the Lambda's own region (from the environment), created on first use."""
    return AwsClients(
        s3=boto3.client("s3", config=_BOTO_CONFIG),
        stepfunctions=boto3.client("stepfunctions", config=_BOTO_CONFIG),
    )


def put_manifest(s3: Any, *, bucket: str, key: str, text: str) -> None:
    """Write manifest text (overwriting the same content is harmless: the key is content-derived)."""
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=MANIFEST_CONTENT_TYPE)


def start_execution(stepfunctions: Any, *, state_machine_arn: str, name: str, input_json: str) -> str | None:
    """Start the batch's execution; returns the name started, or None when nothing needed starting.

    A name that exists already is a redelivered batch when that execution (or a replay of it) is running
    or succeeded; when they all failed, the batch was uploaded again to be re-run: a replay
    (``<name>-r<n>``) starts with the same input.
    """
    try:
        stepfunctions.start_execution(stateMachineArn=state_machine_arn, name=name, input=input_json)
        return name
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        pass
    statuses, _ = batch_statuses(stepfunctions, state_machine_arn, name)
    decision = decide(name, statuses)
    if decision.start is None:
        return None
    try:
        stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=decision.start, input=input_json
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        return None  # a concurrent delivery started the same replay
    return decision.start
