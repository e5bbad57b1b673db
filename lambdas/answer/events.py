"""Pure parsing of the EventBridge "Object Created" event S3 sends for an upload.

No AWS calls and no logging: the decision is returned as data. The event shape is S3's EventBridge
message (S3 User Guide, "EventBridge event message structure"); Powertools' data class reads it and
URL-decodes the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent

S3_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"


class MalformedEvent(ValueError):
    """An event that is not S3's EventBridge "Object Created" message (retrying will not fix it)."""


class SkipReason(StrEnum):
    """Why a well-formed event gets no answer."""

    NOT_OBJECT_CREATED = "not_object_created"
    OUTSIDE_UPLOADS_PREFIX = "outside_uploads_prefix"
    IDENTITY_ERASED = "identity_erased"


@dataclass(frozen=True)
class Skip:
    """An event left alone, and why (no key: keys name people's uploads)."""

    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class Upload:
    """An object created under the uploads prefix."""

    bucket: str
    key: str
    size: int | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_event(event: Mapping[str, Any], *, uploads_prefix: str) -> Upload | Skip:
    """The upload an event announces, or why it is skipped; MalformedEvent for anything else."""
    if not isinstance(event, Mapping):
        raise MalformedEvent("event is not a JSON object")
    message = S3EventBridgeNotificationEvent(dict(event))
    try:
        source, detail_type = message.source, message.detail_type
        bucket = message.detail.bucket.name
        obj = message.detail.object
        key, size = obj.key, obj.size
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedEvent(f"not an S3 EventBridge event (missing {exc})") from None
    if source != S3_SOURCE:
        raise MalformedEvent(f"event source is {source!r}, expected {S3_SOURCE!r}")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise MalformedEvent("detail.bucket.name and detail.object.key must be non-empty strings")
    if detail_type != OBJECT_CREATED:
        return Skip(SkipReason.NOT_OBJECT_CREATED, f"detail-type {detail_type!r} is not {OBJECT_CREATED!r}")
    if not key.startswith(uploads_prefix):
        return Skip(SkipReason.OUTSIDE_UPLOADS_PREFIX, f"key is not under {uploads_prefix!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise MalformedEvent("detail.object.size must be a non-negative integer")
    return Upload(bucket=bucket, key=key, size=size)
