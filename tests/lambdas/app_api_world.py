"""The app API's world for its tests: events shaped like API Gateway's, and moto's S3 and DynamoDB.

Events start from ``events/app_api_commit.json`` (payload 2.0 with the IAM authorizer's Cognito identity,
as API Gateway sends it) and change only the route, the identity, the path parameters and the body.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.app_api import config as app_config
from lambdas.app_api import store
from lambdas.app_api.aws import AwsClients, default_clients
from lambdas.app_api.config import ROUTE_COMMIT_UPLOAD, ROUTE_REQUEST_UPLOAD, AppApiConfig
from lambdas.app_api.service import dispatch

REGION = "eu-west-3"
EVENT = json.loads((Path(__file__).parent / "events" / "app_api_commit.json").read_text())
IDENTITY_A = EVENT["requestContext"]["authorizer"]["iam"]["cognitoIdentity"]["identityId"]
IDENTITY_B = "eu-west-3:9d4c3b2a-1f0e-4d5c-8b7a-6e5f4d3c2b1a"
INGEST_BUCKET, RESULTS_BUCKET, TABLE = "fruits-ingest-test", "fruits-results-test", "fruits-app-identities"
CONFIG = AppApiConfig(
    ingestion_bucket=INGEST_BUCKET, results_bucket=RESULTS_BUCKET, identity_table=TABLE, uploads_per_window=5
)
ENVIRONMENT = {
    app_config.ENV_INGESTION_BUCKET: INGEST_BUCKET,
    app_config.ENV_RESULTS_BUCKET: RESULTS_BUCKET,
    app_config.ENV_IDENTITY_TABLE: TABLE,
    app_config.ENV_UPLOADS_PER_WINDOW: "5",
}


def api_event(
    route: str,
    *,
    identity: str | None = IDENTITY_A,
    path: dict[str, str] | None = None,
    body: Any = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """The fixture event for ``route`` called by ``identity`` (None: no Cognito identity)."""
    event = copy.deepcopy(EVENT)
    method, template = route.split(" ", 1)
    raw_path = template
    for name, value in (path or {}).items():
        raw_path = raw_path.replace("{" + name + "}", value)
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    event["requestContext"]["http"]["method"] = method
    if path:
        event["pathParameters"] = dict(path)
    else:
        event.pop("pathParameters", None)
    if identity is None:
        event["requestContext"]["authorizer"]["iam"]["cognitoIdentity"] = None
    else:
        event["requestContext"]["authorizer"]["iam"]["cognitoIdentity"]["identityId"] = identity
    if body is not None:
        text = body if isinstance(body, str | bytes) else json.dumps(body)
        raw = text.encode() if isinstance(text, str) else text
        event["body"] = base64.b64encode(raw).decode() if base64_body else raw.decode()
        event["isBase64Encoded"] = base64_body
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(raw))
    return event


@dataclass
class AppWorld:
    """The buckets and identity table in moto, and calls of the API as an app identity."""

    clients: AwsClients
    now: float = 1_796_206_500.0

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        response = dispatch(event, CONFIG, self.clients, self.now)
        return response["statusCode"], json.loads(response["body"]), response["headers"]

    def grant(self, content_type: str = "image/jpeg", size: int = 1000, identity: str = IDENTITY_A):
        return self.call(
            api_event(
                ROUTE_REQUEST_UPLOAD, identity=identity, body={"content_type": content_type, "size": size}
            )
        )

    def commit(self, photo_id: str, identity: str = IDENTITY_A):
        return self.call(api_event(ROUTE_COMMIT_UPLOAD, identity=identity, path={"photo_id": photo_id}))

    def stage(self, grant: dict[str, Any], body: bytes) -> str:
        """What the app's form POST leaves in the bucket (the form's key and content type)."""
        fields = grant["upload"]["fields"]
        self.clients.s3.put_object(
            Bucket=INGEST_BUCKET, Key=fields["key"], Body=body, ContentType=fields["Content-Type"]
        )
        return fields["key"]

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.clients.s3.list_objects_v2(Bucket=INGEST_BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def items(self, identity: str = IDENTITY_A) -> list[dict[str, Any]]:
        return self.clients.dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="#pk = :id",
            ExpressionAttributeNames={"#pk": store.PARTITION_KEY},
            ExpressionAttributeValues={":id": {"S": identity}},
        )["Items"]


def create_identity_table(dynamodb: Any, name: str = TABLE) -> None:
    """The identity table as the stack defines it (keys, on-demand; TTL is not enforced by moto)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": store.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": store.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": store.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": store.SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def open_app_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppWorld]:
    """The world for one test (a fixture's body): moto started, environment set, clients fresh."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        **ENVIRONMENT,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    default_clients.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (INGEST_BUCKET, RESULTS_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_identity_table(dynamodb)
        yield AppWorld(clients=AwsClients(s3=s3, dynamodb=dynamodb))
    default_clients.cache_clear()
