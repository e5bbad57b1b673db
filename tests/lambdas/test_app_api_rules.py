"""The app API's pure parts: the event, the grant request, the keys, the commit's content rules."""

from __future__ import annotations

import json

import pytest

from lambdas.app_api.config import (
    ROUTE_COMMIT_UPLOAD,
    ROUTE_REQUEST_UPLOAD,
    AppApiConfig,
    ConfigError,
    load_config,
)
from lambdas.app_api.http import ApiError, error_response, json_object, parse_event, valid_identity_id
from lambdas.app_api.uploads import (
    check_staged,
    checked_photo_id,
    parse_grant_request,
    photo_keys,
    retry_after,
    staged_object,
)
from spark_app.core.defaults import MAX_FILE_BYTES
from spark_app.core.image_header import ImageHeader, header_of
from tests.helpers.images import _save, fruit_rgb, png_bomb_header
from tests.lambdas.app_api_world import CONFIG, EVENT, IDENTITY_A, api_event

PHOTO = "0b6e2c1e-6d55-4d8e-9a59-2f7ad3c0d1b4"


def _refusal(call, *args, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.code, caught.value.message


# ------------------------------------------------------------------------------- the event


def test_the_exact_api_gateway_event_gives_the_identity_route_and_photo_id() -> None:
    request = parse_event(EVENT)
    assert request.identity_id == IDENTITY_A
    assert request.route == ROUTE_COMMIT_UPLOAD
    assert request.path_parameters == {"photo_id": PHOTO}
    assert request.body == b""


def test_plain_and_base64_bodies_read_the_same() -> None:
    plain = parse_event(api_event(ROUTE_REQUEST_UPLOAD, body={"size": 3}))
    encoded = parse_event(api_event(ROUTE_REQUEST_UPLOAD, body={"size": 3}, base64_body=True))
    assert plain.body == encoded.body == b'{"size": 3}'


@pytest.mark.parametrize(
    "identity",
    [None, "", "3f291106-8703-466b-8f2b-3ecee1ca56ce", "eu-west-3:../../x", "a" * 40 + ":" + "0" * 20],
)
def test_a_request_without_a_cognito_identity_is_forbidden(identity: str | None) -> None:
    assert _refusal(parse_event, api_event(ROUTE_REQUEST_UPLOAD, identity=identity))[:2] == (403, "forbidden")


def test_an_event_of_another_kind_is_refused() -> None:
    assert _refusal(parse_event, {"Records": []})[0] == 400


def test_identity_ids_follow_cognitos_pattern() -> None:
    assert valid_identity_id("eu-west-3:3f291106-8703-466b-8f2b-3ecee1ca56ce")
    assert not valid_identity_id("eu-west-3:3F291106")  # Cognito ids are lower-case hex
    assert not valid_identity_id("eu-west-3/x:1")


@pytest.mark.parametrize(
    ("body", "status"), [(b"x" * 5000, 413), (b"not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400)]
)
def test_a_request_body_must_be_a_small_json_object(body: bytes, status: int) -> None:
    assert _refusal(json_object, body, max_bytes=4096)[0] == status


def test_a_refusal_is_a_json_reply_with_code_and_message() -> None:
    response = error_response(ApiError(429, "quota_exceeded", "later", {"retry-after": "7"}))
    assert response["statusCode"] == 429 and response["headers"]["retry-after"] == "7"
    assert json.loads(response["body"]) == {"error": "quota_exceeded", "message": "later"}


# ------------------------------------------------------------------------------- the grant


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"content_type": "image/jpeg", "size": MAX_FILE_BYTES + 1}, 413, "too_large", "limit is 52428800"),
        ({"content_type": "image/heic", "size": 1000}, 415, "unsupported_type", "HEIC"),
        ({"content_type": "image/gif", "size": 1000}, 415, "unsupported_type", "image/jpeg, image/png"),
        ({"content_type": "image/jpeg", "size": 0}, 400, "bad_request", "positive integer"),
        ({"content_type": "image/jpeg", "size": "1000"}, 400, "bad_request", "positive integer"),
        ({"content_type": "image/jpeg", "size": True}, 400, "bad_request", "positive integer"),
        ({"size": 1000}, 400, "bad_request", "content_type"),
    ],
)
def test_a_bad_grant_request_is_refused_clearly(body: dict, status: int, code: str, words: str) -> None:
    refused = _refusal(parse_grant_request, body, max_bytes=MAX_FILE_BYTES)
    assert refused[:2] == (status, code) and words in refused[2]


def test_a_12_megapixel_photo_and_a_type_in_any_case_are_granted() -> None:
    grant = parse_grant_request({"content_type": " Image/JPEG ", "size": 6_000_000}, max_bytes=MAX_FILE_BYTES)
    assert (grant.content_type, grant.size) == ("image/jpeg", 6_000_000)


def test_every_key_of_a_photo_sits_under_its_identity() -> None:
    keys = photo_keys(CONFIG, IDENTITY_A, PHOTO, ".jpg")
    assert keys.staged == f"incoming/{IDENTITY_A}/{PHOTO}.jpg"
    assert keys.upload == f"uploads/{IDENTITY_A}/{PHOTO}.jpg"
    assert keys.answer == f"answers/uploads/{IDENTITY_A}/{PHOTO}.jpg.json"


@pytest.mark.parametrize("value", [None, "", "../x", PHOTO.upper(), PHOTO.replace("-", ""), PHOTO + "x"])
def test_a_commit_needs_the_canonical_photo_id(value: str | None) -> None:
    assert _refusal(checked_photo_id, value)[0] == 400
    assert checked_photo_id(PHOTO) == PHOTO


def test_quota_refusals_say_when_to_retry() -> None:
    assert retry_after(3600.0, 3600) == 3600
    assert retry_after(3599.5, 3600) == 1
    assert retry_after(5000.0, 3600) == 2200


# ------------------------------------------------------------------------------- the commit


def test_the_staged_object_is_found_by_its_exact_key_only() -> None:
    keys, size = staged_object(CONFIG, IDENTITY_A, PHOTO, [(f"incoming/{IDENTITY_A}/{PHOTO}.png", 42)])
    assert (keys.extension, size) == (".png", 42)
    near_misses = [(f"incoming/{IDENTITY_A}/{PHOTO}.gif", 1), (f"incoming/{IDENTITY_A}/{PHOTO}.jpg.x", 1)]
    assert _refusal(staged_object, CONFIG, IDENTITY_A, PHOTO, near_misses)[:2] == (404, "not_uploaded")


JPEG_KEYS = photo_keys(CONFIG, IDENTITY_A, PHOTO, ".jpg")


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"This is a shopping list, not a photo.\n", 415, "not_an_image"),
        (_save(fruit_rgb(), "GIF"), 415, "not_an_image"),
        (_save(fruit_rgb(), "PNG"), 415, "type_mismatch"),
        (png_bomb_header(20_000, 20_000), 415, "type_mismatch"),
        (_save(fruit_rgb(), "JPEG")[:30], 422, "unreadable_image"),
    ],
    ids=["text", "gif", "png", "png-bomb", "truncated-jpeg"],
)
def test_content_that_is_not_the_declared_image_is_refused(data: bytes, status: int, code: str) -> None:
    header = _header_or_error(data)
    assert _refusal(check_staged, JPEG_KEYS, len(data), header, max_bytes=MAX_FILE_BYTES)[:2] == (
        status,
        code,
    )


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    keys = photo_keys(CONFIG, IDENTITY_A, PHOTO, ".png")
    bomb = png_bomb_header(20_000, 20_000)
    refused = _refusal(check_staged, keys, len(bomb), header_of(bomb), max_bytes=MAX_FILE_BYTES)
    assert refused[:2] == (422, "too_many_pixels") and "400,000,000 pixels" in refused[2]


def test_an_oversize_staged_object_is_refused_and_a_good_one_passes() -> None:
    header = ImageHeader("JPEG", 4000, 3000)
    assert _refusal(check_staged, JPEG_KEYS, MAX_FILE_BYTES + 1, header, max_bytes=MAX_FILE_BYTES)[0] == 413
    check_staged(JPEG_KEYS, 6_000_000, header, max_bytes=MAX_FILE_BYTES)


def _header_or_error(data: bytes):
    from spark_app.core.image_header import HeaderError

    try:
        return header_of(data)
    except HeaderError as error:
        return error


# ------------------------------------------------------------------------------- configuration


def test_configuration_defaults_and_overrides() -> None:
    required = {"INGESTION_BUCKET": "i", "RESULTS_BUCKET": "r", "IDENTITY_TABLE": "t"}
    assert load_config(required) == AppApiConfig(ingestion_bucket="i", results_bucket="r", identity_table="t")
    custom = load_config({**required, "STAGING_PREFIX": "/staged", "UPLOAD_GRANT_SECONDS": "60"})
    assert (custom.staging_prefix, custom.grant_seconds) == ("staged/", 60)
    with pytest.raises(ConfigError, match="IDENTITY_TABLE"):
        load_config({"INGESTION_BUCKET": "i", "RESULTS_BUCKET": "r"})
    with pytest.raises(ConfigError, match="UPLOADS_PER_WINDOW must be a positive integer"):
        load_config({**required, "UPLOADS_PER_WINDOW": "0"})
