"""``POST /photos/{photo_id}/correction``: a person confirms or corrects the label of their own photo.

The photo is looked up under the caller's own prefixes only (the identity comes from the signed request,
never from the body): another identity's photo is as unknown here as a photo never sent. The record
(:func:`spark_app.core.corrections.new_correction`) takes the photo's image id and the versions it
corrects from the photo's answer document, its label is checked against the known classes of the
promoted classifier's ``version.json``, and it is written with :mod:`spark_app.store.corrections` to
``<store>/corrections/<identity id>/<photo id>.json`` (a new correction of the same photo replaces it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lambdas.app_api import aws, store
from lambdas.app_api.aws import AwsClients
from lambdas.app_api.config import AppApiConfig
from lambdas.app_api.http import ApiError, ApiRequest, Reply, json_object
from lambdas.app_api.uploads import checked_photo_id, photo_keys
from spark_app.core.answers import ERROR
from spark_app.core.corrections import CorrectionError, known_classes, new_correction
from spark_app.core.formats import APP_UPLOAD_TYPES
from spark_app.core.uris import join_uri, split_s3_uri
from spark_app.store.corrections import write_correction

#: A correction's body is a tiny JSON object.
MAX_REQUEST_BYTES = 1024
#: The largest answer document or ``version.json`` read (answers are < 1 KB, versions a few KB).
MAX_DOCUMENT_BYTES = 1024 * 1024
#: The registry's pointer and metadata names (``spark_app.models.registry``, which needs NumPy).
LATEST_POINTER, VERSION_FILE = "LATEST", "version.json"
#: What a stored correction is, compared with the answer: the same label, another one, a new class.
CONFIRMATION, CORRECTION, NEW_CLASS = "confirmation", "correction", "new_class"
_MISSING = ("NoSuchKey", "404", "NotFound", "AccessDenied", "403")


@dataclass(frozen=True)
class CorrectionRequest:
    """What the person says: the label, and whether it is a class nobody has yet."""

    label: str
    new_class: bool


@dataclass(frozen=True)
class AnsweredPhoto:
    """What the photo's answer holds: the bytes' image id, the label given and the versions."""

    image_id: str
    label: str | None
    classifier_version: str | None
    model_version: str | None


def parse_correction_request(body: Mapping[str, Any]) -> CorrectionRequest:
    """``{"label": ..., "new_class": false}`` (``new_class`` optional); 400 for anything else."""
    unexpected = sorted(set(body) - {"label", "new_class"})
    if unexpected:
        raise ApiError(400, "bad_request", f"unexpected field(s): {', '.join(unexpected)}")
    label, new_class = body.get("label"), body.get("new_class", False)
    if not isinstance(label, str):
        raise ApiError(400, "bad_request", "label must be a string: a known class, or a new class")
    if not isinstance(new_class, bool):
        raise ApiError(400, "bad_request", "new_class must be true or false")
    return CorrectionRequest(label, new_class)


def answered_photo(document: Mapping[str, Any]) -> AnsweredPhoto:
    """The facts of an answer document; 409 when it holds no image to label (an unreadable photo)."""
    if document.get("status") == ERROR:
        raise ApiError(
            409,
            "not_correctable",
            f"this photo could not be read ({document.get('error_stage')}): there is no label to correct",
        )
    image_id = document.get("image_id")
    if not isinstance(image_id, str):
        raise ApiError(409, "not_correctable", "this photo's answer names no image: nothing to label")
    return AnsweredPhoto(
        image_id=image_id,
        label=answered_label(document),
        classifier_version=document.get("classifier_version"),
        model_version=document.get("model_version"),
    )


def answered_label(document: Mapping[str, Any]) -> str | None:
    """The class the answer gave (``predicted_label``; ``unknown`` below the confidence threshold)."""
    return document.get("predicted_label")


def kind_of(wanted: CorrectionRequest, answer: AnsweredPhoto) -> str:
    """``confirmation`` (the answer's label), ``correction`` (another known class) or ``new_class``."""
    if wanted.new_class:
        return NEW_CLASS
    return CONFIRMATION if wanted.label == answer.label else CORRECTION


def correct_photo(request: ApiRequest, config: AppApiConfig, clients: AwsClients, now: float) -> Reply:
    """``POST /photos/{photo_id}/correction``: 201 with the stored correction."""
    if not config.feature_store or not config.classifier_dir:
        raise ApiError(503, "not_configured", "corrections are not configured for this API")
    photo_id = checked_photo_id(request.path_parameters.get("photo_id"))
    wanted = parse_correction_request(json_object(request.body, max_bytes=MAX_REQUEST_BYTES))
    answer = answered_photo(_answer_document(request.identity_id, photo_id, config, clients))
    try:
        record = new_correction(
            request.identity_id,
            photo_id,
            answer.image_id,
            wanted.label,
            known_classes=known_classes(promoted_info(clients.s3, config.classifier_dir)),
            new_class=wanted.new_class,
            classifier_version=answer.classifier_version,
            model_version=answer.model_version,
            corrected_at=datetime.fromtimestamp(now, UTC),
        )
    except CorrectionError as error:
        raise ApiError(422, "invalid_label", str(error)) from None
    write_correction(config.feature_store, record)
    return Reply(
        201,
        {
            "photo_id": photo_id,
            "label": record.label,
            "new_class": record.new_class,
            "kind": kind_of(wanted, answer),
            "corrected_at": record.corrected_at,
            "answer": {
                "predicted_label": answer.label,
                "classifier_version": answer.classifier_version,
                "model_version": answer.model_version,
            },
        },
    )


def _answer_document(identity_id: str, photo_id: str, config: AppApiConfig, clients: AwsClients) -> dict:
    """The answer of the caller's photo; 404 when the caller sent no such photo, 409 before its answer."""
    prefix = f"{config.answers_prefix}{config.uploads_prefix}{identity_id}/{photo_id}."  # any extension
    listed = {key for key, _ in aws.list_keys(clients.s3, bucket=config.results_bucket, prefix=prefix)}
    for extension, _ in APP_UPLOAD_TYPES.values():
        key = photo_keys(config, identity_id, photo_id, extension).answer
        document = read_json(clients.s3, config.results_bucket, key) if key in listed else None
        if isinstance(document, dict):
            return document
    if store.was_committed(clients.dynamodb, config.identity_table, identity_id, photo_id):
        raise ApiError(409, "not_answered", "this photo has no answer yet: correct it once it has one")
    raise ApiError(
        404,
        "not_found",
        "you sent no photo with this id, or its answer expired (a photo is corrected by its sender only)",
    )


def promoted_info(s3: Any, classifier_dir: str) -> dict[str, Any] | None:
    """The promoted classifier's ``version.json`` (its labels and curated labels), None before one."""
    bucket, prefix = split_s3_uri(classifier_dir)
    pointer = read_text(s3, bucket, join_uri(prefix, LATEST_POINTER))
    name = (pointer or "").strip()
    if not name:
        return None
    document = read_json(s3, bucket, join_uri(prefix, name, VERSION_FILE))
    return document if isinstance(document, dict) else None


def read_text(s3: Any, bucket: str, key: str) -> str | None:
    """A small object's text; None when it does not exist.

    Without ``s3:ListBucket`` on the bucket, S3 answers a missing key with 403, so 403 is "missing" too:
    this role may read exactly these keys (its grants name them), nothing else is asked.
    """
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
    with response["Body"] as body:
        return body.read(MAX_DOCUMENT_BYTES + 1).decode("utf-8", errors="replace")


def read_json(s3: Any, bucket: str, key: str) -> Any:
    """A small JSON document's value; None when it does not exist, is too large or is not JSON."""
    text = read_text(s3, bucket, key)
    if text is None or len(text) > MAX_DOCUMENT_BYTES:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
