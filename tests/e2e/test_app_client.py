"""The reference client and the emulated HTTP API, without Spark or a moto server (moto in-process).

The emulated API must refuse what API Gateway refuses (a bad signature, an unknown route) and build the
event API Gateway sends: its keys are compared with the documented event fixture the handler tests use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app_client.client import AppApiError, AppClient, AppSettings
from app_client.http import HttpResponse, form_post, s3_error, signed_api_request
from lambdas.app_api.config import ROUTES
from lambdas.app_api.handler import handler
from tests.e2e.api_gateway import ApiGatewayEmulator, Caller, match_route, payload_v2_event, signature_valid
from tests.e2e.sqs_lambda import FakeLambdaContext
from tests.helpers.images import _save, fruit_rgb
from tests.lambdas.app_api_world import INGEST_BUCKET, RESULTS_BUCKET, open_app_world

REGION = "eu-west-3"
API_URL = "https://a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com"
FIXTURE = json.loads((Path(__file__).parents[1] / "lambdas" / "events" / "app_api_commit.json").read_text())
CREDENTIALS = Credentials("ASIAEXAMPLE", "secret", "token")


def _emulator() -> ApiGatewayEmulator:
    return ApiGatewayEmulator(
        api_url=API_URL,
        route_keys=ROUTES,
        region=REGION,
        account="123456789012",
        handler=lambda event, context: {"statusCode": 200, "body": json.dumps(event)},
        context=lambda: FakeLambdaContext("fn", "arn:aws:lambda:eu-west-3:123456789012:function:fn"),
    )


CALLER = Caller(
    "eu-west-3:3f291106-8703-466b-8f2b-3ecee1ca56ce", "eu-west-3:pool", "guest", lambda: CREDENTIALS
)


def test_a_signed_request_is_served_with_the_event_api_gateway_sends() -> None:
    request = signed_api_request("POST", f"{API_URL}/photos/0b6e2c1e/commit", None, CREDENTIALS, REGION)
    response = _emulator().serve(request, CALLER)
    event = json.loads(response.body)
    assert response.status == 200
    assert set(event) == set(FIXTURE)  # the fixture has no body: this request has none either
    assert set(event["requestContext"]) == set(FIXTURE["requestContext"])
    assert set(event["requestContext"]["authorizer"]["iam"]) == set(
        FIXTURE["requestContext"]["authorizer"]["iam"]
    )
    assert event["routeKey"] == "POST /photos/{photo_id}/commit"
    assert event["pathParameters"] == {"photo_id": "0b6e2c1e"}
    assert event["requestContext"]["authorizer"]["iam"]["cognitoIdentity"]["identityId"] == CALLER.identity_id
    assert all(name == name.lower() for name in event["headers"])
    with_body = payload_v2_event(
        _emulator(),
        signed_api_request("POST", f"{API_URL}/photos", {"size": 1}, CREDENTIALS, REGION),
        CALLER,
        "POST /photos",
        {},
    )
    assert (with_body["body"], with_body["isBase64Encoded"]) == ('{"size": 1}', False)


@pytest.mark.parametrize("tamper", ["body", "secret", "service", "date"])
def test_what_api_gateway_refuses_is_refused_before_the_handler(tamper: str) -> None:
    credentials, service_url, body = CREDENTIALS, f"{API_URL}/photos", {"size": 1}
    if tamper == "secret":
        credentials = Credentials("ASIAEXAMPLE", "another-secret", "token")
    request = signed_api_request("POST", service_url, body, credentials, REGION)
    if tamper == "body":
        request.body = b'{"size": 2}'
    if tamper == "service":
        request.headers["Authorization"] = request.headers["Authorization"].replace("/execute-api/", "/s3/")
    if tamper == "date":
        old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = old
    emulator = _emulator()
    assert not signature_valid(request, CREDENTIALS, REGION)
    response = emulator.serve(request, CALLER)
    assert (response.status, json.loads(response.body)) == (403, {"message": "Forbidden"})
    assert emulator.calls[-1].route_key is None


def test_routes_match_like_api_gateway_route_keys() -> None:
    assert match_route(ROUTES, "POST", "/photos") == ("POST /photos", {})
    assert match_route(ROUTES, "POST", "/photos/x/commit") == (
        "POST /photos/{photo_id}/commit",
        {"photo_id": "x"},
    )
    for method, path in [
        ("GET", "/photos"),
        ("POST", "/photos/x"),
        ("POST", "/photos//commit"),
        ("POST", "/"),
    ]:
        assert match_route(ROUTES, method, path) is None
    unsigned = AWSRequest(method="POST", url=f"{API_URL}/photos", data=b"").prepare()
    assert _emulator().serve(unsigned, CALLER).status == 403
    request = signed_api_request("GET", f"{API_URL}/admin", None, CREDENTIALS, REGION)
    assert _emulator().serve(request, CALLER).status == 404


def test_the_form_post_puts_the_fields_first_and_the_file_last() -> None:
    request = form_post(
        "https://b.s3.eu-west-3.amazonaws.com/",
        {"key": "k", "policy": "p"},
        data=b"JPEG",
        content_type="image/jpeg",
    )
    body = request.body
    assert body.index(b'name="key"') < body.index(b'name="policy"') < body.index(b'name="file"')
    assert b"Content-Type: image/jpeg\r\n\r\nJPEG\r\n" in body
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert s3_error(b"<Error><Code>EntityTooLarge</Code><Message>too big</Message></Error>") == (
        "EntityTooLarge",
        "too big",
    )


class _FormToS3:
    """Stands in for S3's form endpoint (moto in-process cannot receive a raw POST): stores the file
    under the form's key with its Content-Type, as S3 does once the policy allowed it."""

    def __init__(self, s3: Any):
        self.s3 = s3
        self.posted: list[dict[str, str]] = []

    def send(self, request: Any) -> HttpResponse:
        boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
        fields: dict[str, str] = {}
        data = b""
        for part in request.body.split(b"--" + boundary)[1:-1]:
            head, _, value = part.strip(b"\r\n").partition(b"\r\n\r\n")
            name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
            if name == "file":
                data = value
            else:
                fields[name] = value.decode()
        self.posted.append(fields)
        self.s3.put_object(
            Bucket=INGEST_BUCKET, Key=fields["key"], Body=data, ContentType=fields["Content-Type"]
        )
        return HttpResponse(204, {}, b"")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for app in open_app_world(monkeypatch):  # moto's S3 and identity table, the API's environment
        pool = boto3.client("cognito-identity", region_name=REGION).create_identity_pool(
            IdentityPoolName="fruits-app", AllowUnauthenticatedIdentities=True
        )["IdentityPoolId"]
        yield {"s3": app.clients.s3, "pool": pool}


def test_the_client_sends_a_photo_reads_its_answer_once_written_and_corrects_it(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEATURE_STORE", f"s3://{RESULTS_BUCKET}/features-store")
    monkeypatch.setenv("CLASSIFIER_DIR", f"s3://{RESULTS_BUCKET}/classifiers")  # none promoted yet
    emulator = ApiGatewayEmulator(
        api_url=API_URL,
        route_keys=ROUTES,
        region=REGION,
        account="123456789012",
        handler=handler,
        context=lambda: FakeLambdaContext(
            "fruits-app-api", "arn:aws:lambda:eu-west-3:123456789012:function:x"
        ),
    )
    forms = _FormToS3(world["s3"])

    class Transport:
        client: AppClient

        def send(self, request: Any) -> HttpResponse:
            c = self.client
            return emulator.serve(request, Caller(c.identity(), world["pool"], "guest", c.credentials))

    transport = Transport()
    client = transport.client = AppClient(
        AppSettings(world["pool"], API_URL), api_transport=transport, http=forms
    )
    identity = client.identity()
    assert identity == client.identity()  # asked once, then kept
    grant = client.send_photo(_save(fruit_rgb(), "JPEG"), "image/jpeg")
    assert forms.posted[0]["key"] == f"incoming/{identity}/{grant.photo_id}.jpg"
    keys = [o["Key"] for o in world["s3"].list_objects_v2(Bucket=INGEST_BUCKET)["Contents"]]
    assert keys == [f"uploads/{identity}/{grant.photo_id}.jpg"]
    assert client.answer(grant) is None  # pending
    answer = {"status": "ok", "predicted_label": "Kiwi", "image_id": "ab" * 32}
    world["s3"].put_object(Bucket=grant.answer_bucket, Key=grant.answer_key, Body=json.dumps(answer))
    assert client.wait_for_answer(grant, timeout=1, interval=0.01) == answer
    stored = client.correct(grant.photo_id, "Dragon fruit", new_class=True)
    assert (stored["kind"], stored["label"], stored["answer"]["predicted_label"]) == (
        "new_class",
        "Dragon fruit",
        "Kiwi",
    )
    with pytest.raises(AppApiError) as unknown:
        client.correct(grant.photo_id, "Kiwi")  # no classifier promoted: no known class yet
    assert (unknown.value.status, unknown.value.code) == (422, "invalid_label")
    key = f"features-store/corrections/{identity}/{grant.photo_id}.json"
    assert json.loads(world["s3"].get_object(Bucket=RESULTS_BUCKET, Key=key)["Body"].read())["new_class"]
    with pytest.raises(AppApiError) as refused:
        client.request_upload("image/heic", 10)
    assert (refused.value.status, refused.value.code) == (415, "unsupported_type")
    with pytest.raises(AppApiError) as unavailable:
        client.erase_me()  # no erasure state machine in this world (tests/e2e/erasure_flow.py has one)
    assert (unavailable.value.status, unavailable.value.code) == (503, "erasure_unavailable")
    assert {c.route_key for c in emulator.calls} == set(ROUTES)
