"""The app API against moto's S3 and DynamoDB: every refusal is a clear 4xx that stores nothing.

The form POST itself is not sent here (moto does not enforce POST policies): the object the form
would leave is put in its place, and tests/conformance checks the policy against S3's rules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.app_api import handler as handler_module
from lambdas.app_api.aws import AwsClients, s3_endpoint
from lambdas.app_api.config import ROUTE_COMMIT_UPLOAD, ROUTE_REQUEST_UPLOAD
from lambdas.app_api.service import dispatch
from spark_app.core.defaults import MAX_FILE_BYTES
from tests.helpers.images import _save, fruit_rgb, png_bomb_header
from tests.lambdas.app_api_world import (
    CONFIG,
    IDENTITY_A,
    IDENTITY_B,
    INGEST_BUCKET,
    AppWorld,
    api_event,
    open_app_world,
)

JPEG = _save(fruit_rgb((160, 120)), "JPEG")


@pytest.fixture
def app_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppWorld]:
    yield from open_app_world(monkeypatch)


def _policy(grant: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(grant["upload"]["fields"]["policy"]))


def test_a_grant_names_a_server_made_key_under_the_identity_and_stores_nothing(app_world: AppWorld) -> None:
    status, grant, _ = app_world.grant("image/jpeg", 6_000_000)
    assert status == 201
    photo = grant["photo_id"]
    key = f"incoming/{IDENTITY_A}/{photo}.jpg"
    assert grant["upload"]["fields"]["key"] == key
    assert grant["commit"] == {"method": "POST", "path": f"/photos/{photo}/commit"}
    assert grant["answer"] == {
        "bucket": CONFIG.results_bucket,
        "key": f"answers/uploads/{IDENTITY_A}/{photo}.jpg.json",
    }
    conditions = _policy(grant)["conditions"]
    assert {"key": key} in conditions and {"bucket": INGEST_BUCKET} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, MAX_FILE_BYTES] in conditions
    assert grant["upload"]["max_bytes"] == MAX_FILE_BYTES
    assert app_world.keys() == []
    # Each grant makes a new photo id.
    assert app_world.grant()[1]["photo_id"] != photo


def test_a_committed_photo_enters_the_pipeline_once_and_the_staged_copy_goes(app_world: AppWorld) -> None:
    _, grant, _ = app_world.grant()
    app_world.stage(grant, JPEG)
    status, body, _ = app_world.commit(grant["photo_id"])
    assert (status, body["status"]) == (202, "accepted")
    upload = f"uploads/{IDENTITY_A}/{grant['photo_id']}.jpg"
    assert app_world.keys() == [upload]
    stored = app_world.clients.s3.get_object(Bucket=INGEST_BUCKET, Key=upload)
    assert stored["Body"].read() == JPEG and stored["ContentType"] == "image/jpeg"
    assert {i["item"]["S"] for i in app_world.items()} == {"quota#1796205600", f"photo#{grant['photo_id']}"}


@pytest.mark.parametrize(
    ("content_type", "data", "status", "code"),
    [
        ("image/jpeg", b"This is a shopping list, not a photo.\n", 415, "not_an_image"),
        ("image/jpeg", _save(fruit_rgb(), "PNG"), 415, "type_mismatch"),
        ("image/png", png_bomb_header(20_000, 20_000), 422, "too_many_pixels"),
        ("image/webp", _save(fruit_rgb(), "WEBP")[:22], 422, "unreadable_image"),
    ],
    ids=["text", "png-declared-jpeg", "bomb", "truncated-webp"],
)
def test_a_refused_commit_deletes_the_staged_object_and_stores_nothing(
    app_world: AppWorld, content_type: str, data: bytes, status: int, code: str
) -> None:
    _, grant, _ = app_world.grant(content_type)
    app_world.stage(grant, data)
    refused = app_world.commit(grant["photo_id"])
    assert refused[:2] == (status, {"error": code, "message": refused[1]["message"]})
    assert app_world.keys() == []
    assert [i["item"]["S"] for i in app_world.items()] == ["quota#1796205600"]


def test_a_reused_grant_is_a_conflict_and_the_first_photo_stays(app_world: AppWorld) -> None:
    _, grant, _ = app_world.grant()
    app_world.stage(grant, JPEG)
    assert app_world.commit(grant["photo_id"])[0] == 202
    other = _save(fruit_rgb((90, 90)), "JPEG")
    app_world.stage(grant, other)  # the same form posted again before it expires
    status, body, _ = app_world.commit(grant["photo_id"])
    assert (status, body["error"]) == (409, "already_committed")
    upload = f"uploads/{IDENTITY_A}/{grant['photo_id']}.jpg"
    assert app_world.keys() == [upload]
    assert app_world.clients.s3.get_object(Bucket=INGEST_BUCKET, Key=upload)["Body"].read() == JPEG


def test_nothing_staged_is_not_found_and_another_identitys_photo_is_out_of_reach(app_world: AppWorld) -> None:
    _, grant, _ = app_world.grant()
    assert app_world.commit(grant["photo_id"])[:2] == (404, app_world.commit(grant["photo_id"])[1])
    assert app_world.commit(grant["photo_id"])[1]["error"] == "not_uploaded"
    staged = app_world.stage(grant, JPEG)
    status, body, _ = app_world.commit(grant["photo_id"], identity=IDENTITY_B)
    assert (status, body["error"]) == (404, "not_uploaded")
    assert app_world.keys() == [staged]  # A's staged photo is untouched


def test_bad_grant_requests_store_nothing_and_cost_no_quota(app_world: AppWorld) -> None:
    for content_type, size in [("image/heic", 1000), ("image/jpeg", MAX_FILE_BYTES + 1), ("text/plain", 5)]:
        assert app_world.grant(content_type, size)[0] in (413, 415)
    assert app_world.call(api_event(ROUTE_REQUEST_UPLOAD, body="{"))[0] == 400
    assert app_world.keys() == [] and app_world.items() == []


def test_1000_uploads_in_a_minute_are_throttled_and_nothing_accepted_is_lost(app_world: AppWorld) -> None:
    _, first, _ = app_world.grant()
    app_world.stage(first, JPEG)
    assert app_world.commit(first["photo_id"])[0] == 202
    statuses, retry = [], set()
    for _ in range(999):
        app_world.now += 0.06  # 1,000 requests within one minute
        status, _, headers = app_world.grant()
        statuses.append(status)
        if status == 429:
            retry.add(int(headers["retry-after"]))
    limit = CONFIG.uploads_per_window
    assert statuses == [201] * (limit - 1) + [429] * (1000 - limit)
    assert retry and all(0 < r <= CONFIG.quota_window_seconds for r in retry)
    assert app_world.grant(identity=IDENTITY_B)[0] == 201  # another identity is not affected
    assert app_world.keys() == [f"uploads/{IDENTITY_A}/{first['photo_id']}.jpg"]
    app_world.now += CONFIG.quota_window_seconds  # the next window grants again
    assert app_world.grant()[0] == 201


def test_unknown_routes_and_requests_without_identity_are_refused(app_world: AppWorld) -> None:
    assert app_world.call(api_event("GET /photos"))[:2] == (
        404,
        {"error": "not_found", "message": "no route 'GET /photos'"},
    )
    assert app_world.call(api_event(ROUTE_REQUEST_UPLOAD, identity=None, body={}))[0] == 403
    assert app_world.call(api_event(ROUTE_COMMIT_UPLOAD, path={"photo_id": "x"}))[0] == 400


class _FailingCopy:
    """S3 whose copy fails like a throttled or unavailable service."""

    def __init__(self, s3: Any):
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def copy_object(self, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "CopyObject"
        )


def test_a_failed_copy_is_an_error_that_keeps_the_upload_retryable(app_world: AppWorld) -> None:
    _, grant, _ = app_world.grant()
    staged = app_world.stage(grant, JPEG)
    failing = AwsClients(s3=_FailingCopy(app_world.clients.s3), dynamodb=app_world.clients.dynamodb)
    event = api_event(ROUTE_COMMIT_UPLOAD, path={"photo_id": grant["photo_id"]})
    with pytest.raises(ClientError):
        dispatch(event, CONFIG, failing, app_world.now)
    assert app_world.keys() == [staged]
    assert [i["item"]["S"] for i in app_world.items()] == ["quota#1796205600"]
    assert app_world.commit(grant["photo_id"])[0] == 202  # the retry succeeds


def test_the_handler_reads_its_environment_and_serves_the_exact_event(
    app_world: AppWorld, lambda_context
) -> None:
    response = handler_module.handler(
        api_event(ROUTE_REQUEST_UPLOAD, body={"content_type": "image/png", "size": 10}), lambda_context
    )
    assert response["statusCode"] == 201 and response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"])["upload"]["fields"]["key"].endswith(".png")


def test_upload_forms_name_the_regional_endpoint_unless_an_emulator_is_configured() -> None:
    assert s3_endpoint("eu-west-3", {}) == "https://s3.eu-west-3.amazonaws.com"
    assert s3_endpoint("eu-west-3", {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:5000"}) is None
