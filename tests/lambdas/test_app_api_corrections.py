"""``POST /photos/{photo_id}/correction``: only the caller's own answered photos, labels checked, one record.

The handler runs against moto in-process (S3 and DynamoDB) with events shaped like API Gateway's; the
answers and the promoted classifier are written where the pipeline writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from lambdas.app_api import corrections as route
from lambdas.app_api import store
from lambdas.app_api.config import ROUTE_CORRECT_PHOTO, load_config
from lambdas.app_api.service import dispatch
from lambdas.app_api.uploads import new_photo_id, photo_keys
from spark_app.core.answers import error_answer, prediction_answer
from spark_app.core.corrections import parse_correction
from spark_app.models import registry
from tests.lambdas.app_api_world import (
    CONFIG,
    ENVIRONMENT,
    IDENTITY_A,
    IDENTITY_B,
    REGION,
    RESULTS_BUCKET,
    TABLE,
    AppWorld,
    api_event,
    open_app_world,
)
from tests.lambdas.test_app_api_contract import _conforms, _operation

ARTIFACTS_BUCKET = "fruits-artifacts-test"
STORE = f"s3://{RESULTS_BUCKET}/features-store"
CLASSIFIERS = f"s3://{ARTIFACTS_BUCKET}/classifiers"
CORRECTING = replace(CONFIG, feature_store=STORE, classifier_dir=CLASSIFIERS)
CLASSIFIER, CNN = "clf-raw-20261202T101500Z-3f9a1c", "mobilenet_v2-imagenet-224-5f3c"
LABELS, CURATED = ["Kiwi", "Lemon", "Pear"], ["Kiwi", "Lemon", "Pear", "Raspberry"]


class World:
    """The app API's world with answers, a promoted classifier and the correction route."""

    def __init__(self, app: AppWorld):
        self.app, self.s3 = app, app.clients.s3
        self.s3.create_bucket(
            Bucket=ARTIFACTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )

    def promote(self, labels: list[str] = LABELS, curated: list[str] = CURATED) -> None:
        info = {"name": CLASSIFIER, "kind": "clf", "labels": labels, "curated_labels": curated}
        self.s3.put_object(
            Bucket=ARTIFACTS_BUCKET, Key=f"classifiers/{CLASSIFIER}/version.json", Body=json.dumps(info)
        )
        self.s3.put_object(Bucket=ARTIFACTS_BUCKET, Key="classifiers/LATEST", Body=CLASSIFIER)

    def answered(
        self, identity: str = IDENTITY_A, document: dict[str, Any] | None = None, ext: str = ".jpg"
    ) -> str:
        """A photo of ``identity`` with its answer in the results bucket; its photo id."""
        photo = new_photo_id()
        key = photo_keys(CORRECTING, identity, photo, ext).answer
        self.s3.put_object(Bucket=RESULTS_BUCKET, Key=key, Body=json.dumps(document or answer_of(photo)))
        return photo

    def correct(
        self, photo: str, body: Any, identity: str | None = IDENTITY_A, config=CORRECTING
    ) -> tuple[int, dict[str, Any]]:
        event = api_event(ROUTE_CORRECT_PHOTO, identity=identity, path={"photo_id": photo}, body=body)
        response = dispatch(event, config, self.app.clients, self.app.now)
        status, reply = response["statusCode"], json.loads(response["body"])
        _conforms(ROUTE_CORRECT_PHOTO, status, reply)  # every reply matches docs/app-api.openapi.json
        return status, reply

    def stored(self) -> dict[str, str]:
        listing = self.s3.list_objects_v2(Bucket=RESULTS_BUCKET, Prefix="features-store/")
        keys = [o["Key"] for o in listing.get("Contents", [])]
        return {k: self.s3.get_object(Bucket=RESULTS_BUCKET, Key=k)["Body"].read().decode() for k in keys}

    def committed(self, photo: str, identity: str = IDENTITY_A) -> None:
        """The identity table's record of a commit (the photo entered the pipeline, no answer yet)."""
        self.app.clients.dynamodb.put_item(
            TableName=TABLE,
            Item={store.PARTITION_KEY: {"S": identity}, store.SORT_KEY: {"S": f"{store.PHOTO_ITEM}{photo}"}},
        )


def image_id_of(photo: str) -> str:
    return hashlib.sha256(photo.encode()).hexdigest()


def answer_of(photo: str, label: str = "Kiwi") -> dict[str, Any]:
    row = {
        "predicted_label": label,
        "confidence": 0.91,
        "top3_labels": [label, "Lemon", "Pear"],
        "top3_confidences": [0.91, 0.05, 0.04],
        "image_id": image_id_of(photo),
        "model_version": CNN,
        "pca_version": None,
        "classifier_version": CLASSIFIER,
    }
    return prediction_answer(row, None)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for app in open_app_world(monkeypatch):
        yield World(app)


def test_a_correction_of_an_own_photo_is_stored_with_the_answer_it_corrects(world: World) -> None:
    world.promote()
    photo = world.answered()
    status, reply = world.correct(photo, {"label": "Pear"})
    corrected_at = datetime.fromtimestamp(world.app.now, UTC).isoformat(timespec="milliseconds")
    assert (status, reply) == (
        201,
        {
            "photo_id": photo,
            "label": "Pear",
            "new_class": False,
            "kind": "correction",
            "corrected_at": corrected_at,
            "answer": {"predicted_label": "Kiwi", "classifier_version": CLASSIFIER, "model_version": CNN},
        },
    )
    ((key, text),) = world.stored().items()
    assert key == f"features-store/corrections/{IDENTITY_A}/{photo}.json"
    record = parse_correction(text)
    assert (record.identity_id, record.photo_id, record.image_id, record.label, record.new_class) == (
        IDENTITY_A,
        photo,
        image_id_of(photo),
        "Pear",
        False,
    )
    assert (record.classifier_version, record.model_version, record.corrected_at) == (
        CLASSIFIER,
        CNN,
        corrected_at,
    )


def test_a_confirmation_a_curated_class_and_a_proposal_replace_each_other(world: World) -> None:
    world.promote()
    photo = world.answered(ext=".png")
    assert world.correct(photo, {"label": "Kiwi"})[1]["kind"] == "confirmation"
    assert world.correct(photo, {"label": "Raspberry"})[1]["kind"] == "correction"  # curated, not trained
    status, reply = world.correct(photo, {"label": "Dragon fruit", "new_class": True})
    assert (status, reply["kind"], reply["new_class"]) == (201, "new_class", True)
    ((key, text),) = world.stored().items()  # the latest replaced the others
    assert key.endswith(f"/{IDENTITY_A}/{photo}.json") and parse_correction(text).label == "Dragon fruit"


def test_one_identity_cannot_correct_another_identitys_photo(world: World) -> None:
    world.promote()
    photo_of_b = world.answered(IDENTITY_B)
    status, reply = world.correct(photo_of_b, {"label": "Pear"}, identity=IDENTITY_A)
    assert (status, reply["error"]) == (404, "not_found")
    assert world.stored() == {}
    assert world.correct(photo_of_b, {"label": "Pear"}, identity=IDENTITY_B)[0] == 201
    assert list(world.stored()) == [f"features-store/corrections/{IDENTITY_B}/{photo_of_b}.json"]


def test_unknown_unanswered_and_unreadable_photos_are_refused_with_their_reason(world: World) -> None:
    world.promote()
    status, reply = world.correct(new_photo_id(), {"label": "Pear"})
    assert (status, reply["error"]) == (404, "not_found") and "no photo with this id" in reply["message"]
    pending = new_photo_id()
    world.committed(pending)
    status, reply = world.correct(pending, {"label": "Pear"})
    assert (status, reply["error"]) == (409, "not_answered")
    world.committed(pending_of_b := new_photo_id(), IDENTITY_B)
    assert world.correct(pending_of_b, {"label": "Pear"})[1]["error"] == "not_found"  # B's record, not A's
    unreadable = world.answered(document=error_answer({"error_stage": "decode", "error": "truncated"}, "b-1"))
    status, reply = world.correct(unreadable, {"label": "Pear"})
    assert (status, reply["error"]) == (409, "not_correctable") and "(decode)" in reply["message"]
    assert world.stored() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", "request body must be a JSON object"),
        ("{", "request body is not JSON"),
        ({}, "label must be a string"),
        ({"label": 3}, "label must be a string"),
        ({"label": "Pear", "new_class": "yes"}, "new_class must be true or false"),
        ({"label": "Pear", "identity_id": IDENTITY_B}, "unexpected field(s): identity_id"),
    ],
)
def test_a_malformed_body_is_a_400_with_its_reason(world: World, body: Any, message: str) -> None:
    world.promote()
    status, reply = world.correct(world.answered(), body)
    assert (status, reply["error"]) == (400, "bad_request") and reply["message"].startswith(message)
    assert world.stored() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"label": "Kiwii"},
            "'Kiwii' is not a known class; did you mean 'Kiwi'? (or propose it as a new class)",
        ),
        ({"label": "kiwi", "new_class": True}, "'kiwi' is the known class 'Kiwi'"),
        ({"label": "unknown"}, "'unknown' is an answer, not a class"),
        ({"label": " Pear"}, "label ' Pear' has leading or trailing spaces"),
        ({"label": "a/b", "new_class": True}, "label 'a/b' has a control character or '/'"),
    ],
)
def test_a_refused_label_is_a_422_with_its_reason(world: World, body: dict, message: str) -> None:
    world.promote()
    status, reply = world.correct(world.answered(), body)
    assert (status, reply["error"]) == (422, "invalid_label") and reply["message"].startswith(message)
    assert world.stored() == {}


def test_before_a_first_classifier_only_new_classes_can_be_proposed(world: World) -> None:
    photo = world.answered()
    status, reply = world.correct(photo, {"label": "Pear"})
    assert (status, reply["error"]) == (422, "invalid_label") and "no known class yet" in reply["message"]
    assert world.correct(photo, {"label": "Pear", "new_class": True})[0] == 201


def test_other_refusals_forbidden_bad_id_too_large_not_configured(world: World) -> None:
    world.promote()
    photo = world.answered()
    assert world.correct(photo, {"label": "Pear"}, identity=None)[0] == 403
    assert world.correct("x", {"label": "Pear"})[0] == 400
    assert world.correct(photo, {"label": "Pear" * 300, "new_class": True})[0] == 413
    status, reply = world.correct(photo, {"label": "Pear"}, config=CONFIG)
    assert (status, reply["error"]) == (503, "not_configured")
    assert world.stored() == {}


def test_every_documented_status_of_the_route_is_answered(world: World) -> None:
    world.promote()
    photo = world.answered()
    answered = {
        world.correct(photo, {"label": "Pear"})[0],
        world.correct(photo, "[]")[0],
        world.correct(photo, {"label": "Pear"}, identity=None)[0],
        world.correct(new_photo_id(), {"label": "Pear"})[0],
        world.correct(
            world.answered(document=error_answer({"error_stage": "read"}, None)), {"label": "Pear"}
        )[0],
        world.correct(photo, {"label": "x" * 2000})[0],
        world.correct(photo, {"label": "Kiwii"})[0],
        world.correct(photo, {"label": "Pear"}, config=CONFIG)[0],
    }
    assert answered == {int(s) for s in _operation(ROUTE_CORRECT_PHOTO)["responses"]}


def test_the_registry_names_match_and_the_stores_come_from_the_environment() -> None:
    assert (route.LATEST_POINTER, route.VERSION_FILE) == (registry.LATEST_POINTER, registry.VERSION_FILE)
    config = load_config({**ENVIRONMENT, "FEATURE_STORE": f"{STORE}/", "CLASSIFIER_DIR": CLASSIFIERS})
    assert (config.feature_store, config.classifier_dir) == (STORE, CLASSIFIERS)
    assert (load_config(ENVIRONMENT).feature_store, load_config(ENVIRONMENT).classifier_dir) == (None, None)


def test_the_answered_label_is_the_answer_documents_predicted_label() -> None:
    image = "ab" * 32
    assert (
        route.answered_photo({"status": "ok", "predicted_label": "Kiwi", "image_id": image}).label == "Kiwi"
    )
    assert route.answered_photo({"status": "ok", "label": "Kiwi", "image_id": image}).label is None
    assert (
        route.answered_photo({"status": "no_classifier", "predicted_label": None, "image_id": image}).label
        is None
    )
