"""Pure parsing and validation of S3 event notifications carried in SQS message bodies.

No AWS calls and no logging here: every decision is returned as data so the caller can
log it and tests can check it without AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

from spark_app.core.formats import is_supported_name, unsupported_reason
from spark_app.core.labels import label_from_relative_path
from spark_app.core.manifest import ManifestEntry

S3_EVENT_SOURCE = "aws:s3"
TEST_EVENT = "s3:TestEvent"
OBJECT_CREATED_PREFIX = "ObjectCreated:"


class MalformedMessageError(ValueError):
    """A message body that is not an S3 event notification (retrying will not fix it)."""


class SkipReason(StrEnum):
    """Why a well-formed record contributes no object (the message is still acknowledged)."""

    TEST_EVENT = "test_event"
    NOT_OBJECT_CREATED = "not_object_created"
    OUTSIDE_UPLOADS_PREFIX = "outside_uploads_prefix"  # neither under the uploads nor the curated prefix
    UNSUPPORTED_EXTENSION = "unsupported_extension"
    EMPTY_OBJECT = "empty_object"
    OBJECT_TOO_LARGE = "object_too_large"


@dataclass(frozen=True)
class Skip:
    """A record left out, with a readable detail (no object content) and the key for debug logs."""

    reason: SkipReason
    detail: str
    key: str | None = None


@dataclass(frozen=True)
class UploadedObject:
    """A valid upload: its manifest entry and S3's event sequencer (orders events on one key)."""

    entry: ManifestEntry
    sequencer: str | None = None


@dataclass(frozen=True)
class ParsedMessage:
    """What one SQS message contributes: objects to process and records skipped."""

    objects: tuple[UploadedObject, ...] = ()
    skipped: tuple[Skip, ...] = field(default_factory=tuple)


def parse_message(
    body: str, *, uploads_prefix: str, max_object_bytes: int, curated_prefix: str | None = None
) -> ParsedMessage:
    """Parse one SQS message body holding an S3 notification.

    ``uploads_prefix`` and ``curated_prefix`` are normalised ('' or ending with '/'); objects under
    either are batched (see :func:`label_for`). Raises MalformedMessageError
    when the body is not an S3 notification or a record lacks a required field; a message
    with one bad record fails as a whole (it is the unit SQS retries).
    """
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedMessageError("message body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise MalformedMessageError("message body is not a JSON object")
    if payload.get("Event") == TEST_EVENT:
        return ParsedMessage(skipped=(Skip(SkipReason.TEST_EVENT, "S3 test event"),))
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        raise MalformedMessageError("message has no 'Records' list: not an S3 event notification")
    objects: list[UploadedObject] = []
    skipped: list[Skip] = []
    for index, record in enumerate(S3Event(payload).records):
        result = parse_record(
            record,
            index=index,
            uploads_prefix=uploads_prefix,
            max_object_bytes=max_object_bytes,
            curated_prefix=curated_prefix,
        )
        if isinstance(result, Skip):
            skipped.append(result)
        else:
            objects.append(result)
    return ParsedMessage(objects=tuple(objects), skipped=tuple(skipped))


def parse_record(
    record: S3EventRecord,
    *,
    index: int,
    uploads_prefix: str,
    max_object_bytes: int,
    curated_prefix: str | None = None,
) -> UploadedObject | Skip:
    """Validate one S3 event record; returns the object to process or why it is skipped."""
    try:
        source = record.event_source
        event_name = record.event_name
        bucket = record.s3.bucket.name
        obj = record.s3.get_object
        raw_key = obj.key
        size = obj.get("size")
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedMessageError(f"record {index}: not an S3 event record (missing {exc})") from None
    if source != S3_EVENT_SOURCE:
        raise MalformedMessageError(
            f"record {index}: eventSource is {source!r}, expected {S3_EVENT_SOURCE!r}"
        )
    for name, value in (("eventName", event_name), ("s3.bucket.name", bucket), ("s3.object.key", raw_key)):
        if not isinstance(value, str) or not value:
            raise MalformedMessageError(f"record {index}: {name} must be a non-empty string")
    key = unquote_plus(raw_key)
    if not event_name.startswith(OBJECT_CREATED_PREFIX):
        return Skip(SkipReason.NOT_OBJECT_CREATED, f"event {event_name} is not ObjectCreated", key)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise MalformedMessageError(f"record {index}: s3.object.size must be a non-negative integer")
    return validate_object(
        bucket=bucket,
        key=key,
        size=size,
        etag=_optional_str(obj.get("eTag")),
        sequencer=_optional_str(obj.get("sequencer")),
        uploads_prefix=uploads_prefix,
        max_object_bytes=max_object_bytes,
        curated_prefix=curated_prefix,
    )


def validate_object(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str | None,
    sequencer: str | None,
    uploads_prefix: str,
    max_object_bytes: int,
    curated_prefix: str | None = None,
) -> UploadedObject | Skip:
    """Apply the ingestion rules to a decoded key: prefix, extension, size."""
    curated = curated_prefix is not None and key.startswith(curated_prefix)
    if not curated and not key.startswith(uploads_prefix):
        where = f"{uploads_prefix!r}" + (f" or {curated_prefix!r}" if curated_prefix is not None else "")
        return Skip(SkipReason.OUTSIDE_UPLOADS_PREFIX, f"key is not under {where}", key)
    if not is_supported_name(key):
        return Skip(SkipReason.UNSUPPORTED_EXTENSION, unsupported_reason(key), key)
    if size == 0:
        return Skip(SkipReason.EMPTY_OBJECT, "object is empty (0 bytes)", key)
    if size > max_object_bytes:
        return Skip(SkipReason.OBJECT_TOO_LARGE, f"object is {size} bytes, limit {max_object_bytes}", key)
    entry = ManifestEntry(
        uri=f"s3://{bucket}/{key}",
        label=label_for(key, curated_prefix) if curated else None,
        size=size,
        etag=etag,
    )
    return UploadedObject(entry=entry, sequencer=sequencer)


def label_for(key: str, curated_prefix: str) -> str | None:
    """The training label of a curated object: its folder under the curated prefix (today's folder rule).

    App uploads (``<uploads>/<identity id>/<photo id>.<ext>``) never get one: only the data team can
    write under the curated prefix, so a label is never chosen by whoever uploads a photo, and an
    identity's folder never becomes a class.
    """
    return label_from_relative_path(key[len(curated_prefix) :])


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
