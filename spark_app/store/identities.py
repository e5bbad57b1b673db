"""An identity's records outside the buckets: the app's identity table (DynamoDB) and Cognito itself."""

from __future__ import annotations

from typing import Any

from spark_app.store.objects import StorageError, aws_region

#: The identity table's keys (``lambdas/app_api/store.py`` writes the items; a test checks they agree).
PARTITION_KEY = "identity_id"
SORT_KEY = "item"


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=aws_region())


def erase_identity_items(table: str, identity_id: str, client: Any | None = None) -> int:
    """Delete every item of ``identity_id`` (one Query on the partition key); returns how many."""
    dynamodb = client or _client("dynamodb")
    deleted = 0
    try:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="#pk = :id",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={":id": {"S": identity_id}},
            ProjectionExpression="#pk, #sk",
        )
        for page in pages:
            for item in page.get("Items", []):
                dynamodb.delete_item(
                    TableName=table, Key={PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}
                )
                deleted += 1
    except Exception as exc:
        raise StorageError(f"cannot erase the identity's items in table {table}: {exc}") from None
    return deleted


def delete_cognito_identity(identity_id: str, client: Any | None = None) -> int:
    """Delete the identity from its Cognito identity pool; 1 when deleted, 0 when it was gone already."""
    cognito = client or _client("cognito-identity")
    try:
        response = cognito.delete_identities(IdentityIdsToDelete=[identity_id])
    except Exception as exc:
        raise StorageError(f"cannot delete the identity in Cognito: {exc}") from None
    failed = response.get("UnprocessedIdentityIds", [])
    if failed and failed[0].get("ErrorCode") == "InternalServerError":
        raise StorageError("Cognito could not delete the identity now (InternalServerError): run again")
    return 0 if failed else 1
