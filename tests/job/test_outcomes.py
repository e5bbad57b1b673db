"""The single pass's bookkeeping, without Spark: images flow on, failures and answers are accounted once."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spark_app.job.outcomes import (
    AnswerTarget,
    OutcomeRecorder,
    OutcomesParam,
    PartitionOutcome,
    total,
)


def _batch(paths: list[str], failed: set[str]) -> pd.DataFrame:
    """An extracted batch as the workers return it (head columns included)."""
    rows = []
    for path in paths:
        bad = path in failed
        rows.append(
            {
                "path": path,
                "label": "Apple",
                "image_id": None if bad else f"id-{path}",
                "features": None if bad else np.ones(3, dtype=np.float32),
                "error_stage": "decode" if bad else None,
                "error": "not an image" if bad else None,
                "pca": None if bad else np.zeros(2, dtype=np.float32),
                "pca_version": None if bad else "pca-1",
                "predicted_label": None if bad else ("unknown" if path.endswith("b.jpg") else "Apple"),
                "confidence": None if bad else 0.9,
                "top3_labels": None if bad else np.array(["Apple", "Kiwi", "Lemon"], dtype=object),
                "top3_confidences": None if bad else np.array([0.9, 0.05, 0.05], dtype=np.float32),
                "classifier_version": None if bad else "clf-1",
            }
        )
    return pd.DataFrame(rows)


def test_recorder_yields_images_and_reports_failures_and_answers(tmp_path) -> None:
    reported: list[dict[int, PartitionOutcome]] = []
    target = AnswerTarget(str(tmp_path / "answers"), "/in", "b1", "mobilenet@abc")
    recorder = OutcomeRecorder(reported.append, lambda: 7, target)
    batches = [_batch(["/in/x/a.jpg", "/in/x/bad.jpg"], {"/in/x/bad.jpg"}), _batch(["/in/x/b.jpg"], set())]

    out = list(recorder(iter(batches)))

    assert [list(frame["path"]) for frame in out] == [["/in/x/a.jpg"], ["/in/x/b.jpg"]]
    failure = ("/in/x/bad.jpg", "Apple", "decode", "not an image")
    assert reported == [{7: PartitionOutcome(images=2, errors=(failure,), answers=3, unknown=1)}]
    written = {p.name: json.loads(p.read_text()) for p in (tmp_path / "answers").rglob("*.json")}
    assert written["bad.jpg.json"] == {
        "status": "error",
        "label": None,
        "error_stage": "decode",
        "error": "not an image",
        "batch_id": "b1",
        "model_version": "mobilenet@abc",
    }
    assert written["a.jpg.json"]["top3"][0] == {"label": "Apple", "confidence": 0.9}
    assert written["a.jpg.json"]["pca_version"] == "pca-1" and written["b.jpg.json"]["label"] == "unknown"
    assert (tmp_path / "answers" / "x" / "a.jpg.json").is_file()  # the key keeps the upload's folders


def test_a_partition_run_twice_is_counted_once() -> None:
    param = OutcomesParam()
    first = PartitionOutcome(images=3, errors=(("p", None, "read", "gone"),))
    merged = param.zero({})
    for update in ({0: first}, {1: PartitionOutcome(images=2)}, {0: first}):  # partition 0 retried
        merged = param.addInPlace(merged, update)
    outcome = total(merged, inputs=6)
    assert (outcome.images, outcome.errors, outcome.by_stage) == (5, 1, {"read": 1})
    assert outcome.error_rows == [{"path": "p", "label": None, "error_stage": "read", "error": "gone"}]


def test_outcomes_that_do_not_add_up_fail_the_batch() -> None:
    with pytest.raises(RuntimeError, match="accounting mismatch: 2 rows \\+ 0 errors != 3 inputs"):
        total({0: PartitionOutcome(images=2)}, inputs=3)


def test_batch_answers_without_a_classifier_say_so() -> None:
    frame = _batch(["s3://uploads/u/1.jpg"], set()).assign(
        predicted_label=None, confidence=None, top3_labels=None, top3_confidences=None
    )
    [(key, answer)] = AnswerTarget("s3://r/answers", None, "b", "m").answers(frame)
    assert key == "u/1.jpg" and answer["status"] == "no_classifier" and answer["top3"] == []
