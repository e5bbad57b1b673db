"""docs/app-api.openapi.json is the API the handler serves: its routes, and every reply's status and body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from lambdas.app_api.config import ROUTE_COMMIT_UPLOAD, ROUTE_REQUEST_UPLOAD, ROUTES
from lambdas.app_api.uploads import new_photo_id
from spark_app.core.answers import error_answer, prediction_answer
from tests.helpers.images import _save, fruit_rgb, png_bomb_header
from tests.lambdas.app_api_world import IDENTITY_A, AppWorld, api_event, open_app_world

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "app-api.openapi.json"
SPEC = json.loads(SPEC_PATH.read_text())


def _resolve(node: Any) -> Any:
    """The node with every local ``$ref`` replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target)
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


def _operation(route: str) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    return _resolve(SPEC["paths"][path][method.lower()])


def _conforms(route: str, status: int, body: dict[str, Any]) -> None:
    responses = _operation(route)["responses"]
    assert str(status) in responses, f"{route} answers {status}, which the document does not list"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    errors = sorted(e.message for e in Draft202012Validator(schema).iter_errors(body))
    assert not errors, f"{route} {status}: {errors}"


def test_the_document_is_valid_openapi_with_exactly_the_handlers_routes() -> None:
    validate_spec(SPEC)
    documented = {f"{method.upper()} {path}" for path, ops in SPEC["paths"].items() for method in ops}
    assert documented == set(ROUTES)


@pytest.fixture
def app_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppWorld]:
    yield from open_app_world(monkeypatch)


def test_every_reply_of_the_handler_is_documented(app_world: AppWorld) -> None:
    grant_route, commit_route = ROUTE_REQUEST_UPLOAD, ROUTE_COMMIT_UPLOAD  # correction, erasure: own tests
    seen: set[tuple[str, int]] = set()

    def check(route: str, reply: tuple[int, dict[str, Any], dict[str, str]]) -> dict[str, Any]:
        status, body, _ = reply
        _conforms(route, status, body)
        seen.add((route, status))
        return body

    def grant_and_stage(content_type: str, data: bytes) -> str:
        grant = check(grant_route, app_world.grant(content_type, len(data)))
        app_world.stage(grant, data)
        return grant["photo_id"]

    jpeg = _save(fruit_rgb(), "JPEG")
    photo = grant_and_stage("image/jpeg", jpeg)
    check(commit_route, app_world.commit(photo))  # 202
    app_world.stage(
        {"upload": {"fields": {"key": f"incoming/{IDENTITY_A}/{photo}.jpg", "Content-Type": "image/jpeg"}}},
        jpeg,
    )
    check(commit_route, app_world.commit(photo))  # 409
    check(commit_route, app_world.commit(new_photo_id()))  # 404
    check(commit_route, app_world.call(api_event(commit_route, path={"photo_id": "x"})))  # 400
    check(commit_route, app_world.commit(grant_and_stage("image/jpeg", b"not a photo")))  # 415
    check(
        commit_route, app_world.commit(grant_and_stage("image/png", png_bomb_header(20_000, 20_000)))
    )  # 422
    check(
        commit_route, app_world.call(api_event(commit_route, identity=None, path={"photo_id": photo}))
    )  # 403
    check(grant_route, app_world.grant("image/heic"))  # 415
    check(grant_route, app_world.grant("image/jpeg", 10**9))  # 413
    check(grant_route, app_world.call(api_event(grant_route, body="[]")))  # 400
    check(grant_route, app_world.call(api_event(grant_route, identity=None, body={})))  # 403
    for _ in range(5):
        last = app_world.grant()
    check(grant_route, last)  # 429
    routes = (grant_route, commit_route)
    documented = {(route, int(status)) for route in routes for status in _operation(route)["responses"]}
    assert documented - seen <= {(commit_route, 413)}  # only reachable if S3's own size check failed


def test_the_answer_documents_the_job_writes_match_the_documented_schema() -> None:
    schema = _resolve(SPEC["components"]["schemas"]["AnswerDocument"])
    row = {
        "predicted_label": "Kiwi",
        "confidence": 0.9,
        "top3_labels": ["Kiwi", "Lemon", "Pear"],
        "top3_confidences": [0.9, 0.05, 0.05],
        "image_id": "ab",
        "model_version": "m",
        "pca_version": "p",
        "classifier_version": "c",
    }
    for document in (
        prediction_answer(row, "batch-1"),
        prediction_answer({}, None),
        error_answer({"error_stage": "decode", "error": "truncated"}, "batch-1"),
    ):
        assert not list(Draft202012Validator(schema).iter_errors(document)), document
