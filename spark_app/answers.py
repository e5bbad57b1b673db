"""One small JSON answer per upload, which the app fetches by the upload's key.

``<answers root>/<upload key>.json`` (e.g. ``s3://<results>/answers/uploads/Apple/x.jpg.json``): the
predicted label (or ``unknown``), its confidence, the top 3, the versions that produced it, or the error
reason for a file that could not be read or decoded. Nothing from the photo itself (no EXIF, no
pixels) goes in; answers expire with the results bucket's ``answers/`` lifecycle rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from spark_app import storage

ANSWER_SUFFIX = ".json"
WRITE_THREADS = 16


def answer_key(path: str, input_root: str | None = None) -> str:
    """The key an answer is stored under: the object key of an s3:// upload, else the path relative
    to the input folder (or the file name)."""
    if storage.is_s3_uri(path):
        return storage.split_s3_uri(path)[1]
    if input_root and not storage.is_s3_uri(input_root):
        try:
            return (
                storage.local_path(path)
                .resolve()
                .relative_to(storage.local_path(input_root).resolve())
                .as_posix()
            )
        except ValueError:
            pass
    return PurePosixPath(path).name


def prediction_answer(row: Mapping[str, Any], batch_id: str) -> dict[str, Any]:
    """The answer for an image with features (a prediction, or none while no classifier exists)."""
    predicted = row.get("predicted_label")
    labels, confidences = row.get("top3_labels"), row.get("top3_confidences")  # lists or NumPy arrays
    top3 = [
        {"label": str(label), "confidence": round(float(p), 4)}
        for label, p in zip(
            [] if labels is None else labels, [] if confidences is None else confidences, strict=False
        )
    ]
    return {
        "status": "ok" if predicted is not None else "no_classifier",
        "label": predicted,
        "confidence": None if row.get("confidence") is None else round(float(row["confidence"]), 4),
        "top3": top3,
        "image_id": row.get("image_id"),
        "batch_id": batch_id,
        "model_version": row.get("model_version"),
        "pca_version": row.get("pca_version"),
        "classifier_version": row.get("classifier_version"),
    }


def error_answer(row: Mapping[str, Any], batch_id: str) -> dict[str, Any]:
    """The answer for a file that could not be read or decoded."""
    return {
        "status": "error",
        "label": None,
        "error_stage": row.get("error_stage"),
        "error": row.get("error"),
        "batch_id": batch_id,
        "model_version": row.get("model_version"),
    }


def write_answers(root: str, answers: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """Write ``(key, answer)`` pairs under ``root`` concurrently; returns how many."""
    items = list(answers)

    def write(item: tuple[str, dict[str, Any]]) -> None:
        key, answer = item
        storage.write_text(storage.join_uri(root, key + ANSWER_SUFFIX), json.dumps(answer, sort_keys=True))

    list(storage.io_pool("write", WRITE_THREADS).map(write, items))
    return len(items)
