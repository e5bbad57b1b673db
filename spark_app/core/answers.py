"""One small JSON answer per upload, which the app fetches by the upload's key.

``<answers root>/<upload key>.json`` (e.g. ``s3://<results>/answers/uploads/<id>/<photo>.jpg.json``): the
``predicted_label`` (or ``unknown``; the same word as the Parquet column, while ``label`` always means an
image's ground-truth class), its confidence, the top 3 (``label``/``confidence`` pairs, as Parquet's
``top3_labels``/``top3_confidences``), the versions that produced it, or the error
reason for a file that could not be read or decoded. Nothing from the photo itself (no EXIF, no pixels)
goes in. The batch job and the answer Lambda build it with these functions, so both write the same
document.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from spark_app.core.uris import is_s3_uri, local_path, split_s3_uri

if TYPE_CHECKING:  # pandas only for the batch's frames: the Lambdas ship without it
    import pandas as pd

ANSWER_SUFFIX = ".json"
#: The ``status`` of an answer.
OK, NO_CLASSIFIER, ERROR = "ok", "no_classifier", "error"


def answer_key(path: str, input_root: str | None = None) -> str:
    """The key an answer is stored under: the object key of an s3:// upload, else the path relative
    to the input folder (or the file name)."""
    if is_s3_uri(path):
        return split_s3_uri(path)[1]
    if input_root and not is_s3_uri(input_root):
        try:
            return local_path(path).resolve().relative_to(local_path(input_root).resolve()).as_posix()
        except ValueError:
            pass
    return PurePosixPath(path).name


def answer_name(key: str) -> str:
    """The object name of an upload's answer under the answers root."""
    return key + ANSWER_SUFFIX


def prediction_answer(row: Mapping[str, Any], batch_id: str | None) -> dict[str, Any]:
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
        "status": OK if predicted is not None else NO_CLASSIFIER,
        "predicted_label": predicted,
        "confidence": None if row.get("confidence") is None else round(float(row["confidence"]), 4),
        "top3": top3,
        "image_id": row.get("image_id"),
        "batch_id": batch_id,
        "model_version": row.get("model_version"),
        "pca_version": row.get("pca_version"),
        "classifier_version": row.get("classifier_version"),
    }


def error_answer(row: Mapping[str, Any], batch_id: str | None) -> dict[str, Any]:
    """The answer for a file that could not be read or decoded."""
    return {
        "status": ERROR,
        "predicted_label": None,
        "error_stage": row.get("error_stage"),
        "error": row.get("error"),
        "batch_id": batch_id,
        "model_version": row.get("model_version"),
    }


def row_answer(row: Mapping[str, Any], batch_id: str | None) -> dict[str, Any]:
    """The answer for one extracted row: its error, or its prediction."""
    return error_answer(row, batch_id) if row.get("error") is not None else prediction_answer(row, batch_id)


def frame_answers(
    frame: pd.DataFrame, *, batch_id: str | None, model_version: str, input_root: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """``(key, answer)`` for every row of an extracted batch: its prediction or its error."""
    pairs = []
    for record in frame.to_dict("records"):
        row = {k: (None if is_missing(v) else v) for k, v in record.items()}
        row["model_version"] = model_version
        pairs.append((answer_key(row["path"], input_root), row_answer(row, batch_id)))
    return pairs


def is_missing(value: Any) -> bool:
    """pandas' missing markers (None, NaN, NA) in scalar cells; arrays are values."""
    if value is None or hasattr(value, "__len__"):
        return value is None
    import pandas as pd

    return bool(pd.isna(value))
