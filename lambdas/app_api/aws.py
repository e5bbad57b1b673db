"""The S3 edge: clients created once, the presigned POST, the staged object's listing, ranged reads,
the guarded copy and deletes."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)
#: Variables that send boto3 to another S3 endpoint (an emulator): then boto3 picks the endpoint itself.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class AwsClients:
    """The clients the app API uses."""

    s3: Any
    dynamodb: Any
    stepfunctions: Any = None  # DELETE /me starts the erasure state machine


def s3_endpoint(region: str, environ: Mapping[str, str]) -> str | None:
    """The regional S3 endpoint, so that upload forms name ``<bucket>.s3.<region>.amazonaws.com``
    (the global endpoint redirects new buckets); None when an endpoint variable overrides it."""
    if any(environ.get(name) for name in ENDPOINT_VARIABLES):
        return None
    return f"https://s3.{region}.amazonaws.com"


@cache
def default_clients() -> AwsClients:
    """Clients for the Lambda's own region (from the environment), created on first use."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    s3_config = _BOTO_CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    return AwsClients(
        s3=boto3.client(
            "s3", region_name=region, endpoint_url=s3_endpoint(region or "", os.environ), config=s3_config
        ),
        dynamodb=boto3.client("dynamodb", region_name=region, config=_BOTO_CONFIG),
        stepfunctions=boto3.client("stepfunctions", region_name=region, config=_BOTO_CONFIG),
    )


def presign_post(
    s3: Any, *, bucket: str, key: str, content_type: str, conditions: list[Any], expires_in: int
) -> dict[str, Any]:
    """A presigned POST (``{"url", "fields"}``) for exactly this key, type and conditions."""
    return s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=conditions,
        ExpiresIn=expires_in,
    )


def list_keys(s3: Any, *, bucket: str, prefix: str) -> list[tuple[str, int]]:
    """``(key, size)`` of the objects under ``prefix`` (a photo has at most one staged object)."""
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=10)
    return [(obj["Key"], int(obj["Size"])) for obj in response.get("Contents", [])]


def range_reader(s3: Any, *, bucket: str, key: str, size: int) -> Callable[[int, int], bytes]:
    """``read(offset, length)`` over an object of ``size`` bytes, one ranged GET per call."""

    def read(offset: int, length: int) -> bytes:
        end = min(offset + length, size) - 1
        if offset >= size or end < offset:
            return b""
        return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{end}")["Body"].read()

    return read


def copy_if_absent(s3: Any, *, bucket: str, source: str, target: str) -> bool:
    """Copy ``source`` to ``target`` unless ``target`` exists (S3 conditional write); False if it does."""
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=target,
            CopySource={"Bucket": bucket, "Key": source},
            IfNoneMatch="*",
            MetadataDirective="COPY",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            return False
        raise
    return True


def delete_object(s3: Any, *, bucket: str, key: str) -> None:
    """Delete one object (deleting a missing key is not an error in S3)."""
    s3.delete_object(Bucket=bucket, Key=key)
