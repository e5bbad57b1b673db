"""The identity table (DynamoDB): per-identity upload quota and the record of committed photo ids.

Every item is keyed by the identity id (partition key), so that everything stored for one identity is
found with one Query and can be erased; every item carries a TTL attribute, so the table empties itself.

- ``quota#<window start>``: a counter of upload grants in one fixed window, incremented with a conditional
  update that fails at the limit (atomic: concurrent requests cannot overshoot).
- ``photo#<photo id>``: written once, with a condition that it does not exist, when a photo is committed:
  a second commit of the same photo id (a reused upload grant) fails it.
"""

from __future__ import annotations

import math
from typing import Any

from botocore.exceptions import ClientError

#: Key and TTL attribute names (the CDK construct creates the table with them).
PARTITION_KEY = "identity_id"
SORT_KEY = "item"
TTL_ATTRIBUTE = "expires_at"
QUOTA_ITEM = "quota#"
PHOTO_ITEM = "photo#"
_CONDITION_FAILED = "ConditionalCheckFailedException"


def window_start(now: float, window_seconds: int) -> int:
    """Start (epoch seconds) of the fixed quota window containing ``now``."""
    return math.floor(now / window_seconds) * window_seconds


def take_upload(
    dynamodb: Any, table: str, identity_id: str, *, now: float, limit: int, window_seconds: int
) -> bool:
    """Count one upload grant for the identity in the current window; False when the limit is reached."""
    start = window_start(now, window_seconds)
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_key(identity_id, f"{QUOTA_ITEM}{start}"),
            UpdateExpression="ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames={"#count": "grants", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":ttl": {"N": str(start + 2 * window_seconds)},
            },
        )
    except ClientError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def record_commit(
    dynamodb: Any,
    table: str,
    identity_id: str,
    photo_id: str,
    *,
    upload_key: str,
    now: float,
    keep_seconds: int,
) -> bool:
    """Record that the photo is committed; False when it was already (a reused grant)."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **_key(identity_id, f"{PHOTO_ITEM}{photo_id}"),
                "upload_key": {"S": upload_key},
                "committed_at": {"N": str(int(now))},
                TTL_ATTRIBUTE: {"N": str(int(now) + keep_seconds)},
            },
            ConditionExpression="attribute_not_exists(#sk)",
            ExpressionAttributeNames={"#sk": SORT_KEY},
        )
    except ClientError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def was_committed(dynamodb: Any, table: str, identity_id: str, photo_id: str) -> bool:
    """True while the record of the photo's commit is kept (``commit_record_seconds`` after it)."""
    response = dynamodb.get_item(
        TableName=table,
        Key=_key(identity_id, f"{PHOTO_ITEM}{photo_id}"),
        ProjectionExpression="#sk",
        ExpressionAttributeNames={"#sk": SORT_KEY},
        ConsistentRead=True,
    )
    return "Item" in response


def forget_commit(dynamodb: Any, table: str, identity_id: str, photo_id: str) -> None:
    """Remove a commit record (the copy failed: the same grant may commit again)."""
    dynamodb.delete_item(TableName=table, Key=_key(identity_id, f"{PHOTO_ITEM}{photo_id}"))


def _key(identity_id: str, item: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": identity_id}, SORT_KEY: {"S": item}}


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == _CONDITION_FAILED
