"""Classifier metrics and answers (NumPy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spark_app.core.answers import answer_key, error_answer, prediction_answer
from spark_app.core.heads import UNKNOWN, top3_answer
from spark_app.core.metrics import (
    confusion_matrix,
    macro_f1,
    nearest_neighbour_predictions,
    per_class_recall,
    top_k_accuracy,
)


def test_top_k_confusion_recall_and_macro_f1() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.1, 0.5, 0.4], [0.2, 0.3, 0.5]])
    truth = np.array([0, 0, 2, 2])
    assert top_k_accuracy(probabilities, truth, 1) == 0.5
    assert top_k_accuracy(probabilities, truth, 2) == 1.0
    cm = confusion_matrix(truth, probabilities.argmax(axis=1), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 0, 0], [0, 1, 1]]
    recall = per_class_recall(cm)
    assert recall[0] == 0.5 and np.isnan(recall[1]) and recall[2] == 0.5
    # class 0: precision 1, recall .5 -> F1 2/3; class 2 the same; class 1 absent from the truth.
    assert macro_f1(cm) == pytest.approx(2 / 3)


def test_one_nearest_neighbour_uses_cosine_similarity() -> None:
    train_x = np.array([[1.0, 0.0], [0.0, 1.0]])
    test_x = np.array([[10.0, 1.0], [0.1, 3.0]])  # far in distance, close in angle
    assert nearest_neighbour_predictions(train_x, np.array(["a", "b"]), test_x).tolist() == ["a", "b"]


def test_answers_fall_back_to_unknown_below_the_threshold() -> None:
    labels = ["Apple", "Kiwi", "Lemon", "Pear"]
    confident = top3_answer(np.array([0.05, 0.85, 0.06, 0.04]), labels, 0.5)
    assert confident[0] == "Kiwi" and confident[2] == ["Kiwi", "Lemon", "Apple"]
    unsure = top3_answer(np.array([0.3, 0.35, 0.2, 0.15]), labels, 0.5)
    assert unsure[0] == UNKNOWN and unsure[1] == pytest.approx(0.35) and unsure[2][0] == "Kiwi"


def test_answer_keys_and_documents() -> None:
    assert answer_key("s3://ingest/uploads/Apple/x.jpg") == "uploads/Apple/x.jpg"
    assert answer_key("/data/in/Apple/x.jpg", "/data/in") == "Apple/x.jpg"
    assert answer_key(str(Path("data/in/Apple/x.jpg").resolve()), "data/in") == "Apple/x.jpg"  # relative root
    assert answer_key("/elsewhere/x.jpg", "/data/in") == "x.jpg"
    ok = prediction_answer(
        {
            "predicted_label": "Kiwi",
            "confidence": 0.91234,
            "top3_labels": ["Kiwi", "Lemon", "Pear"],
            "top3_confidences": [0.91234, 0.05, 0.01],
            "image_id": "abc",
            "model_version": "m",
            "pca_version": "p",
            "classifier_version": "c",
        },
        "batch-1",
    )
    assert ok["status"] == "ok" and ok["predicted_label"] == "Kiwi" and ok["confidence"] == 0.9123
    assert ok["top3"][1] == {"label": "Lemon", "confidence": 0.05}
    pending = prediction_answer({"predicted_label": None, "image_id": "abc"}, "batch-1")
    assert pending["status"] == "no_classifier" and pending["predicted_label"] is None
    bad = error_answer({"error_stage": "decode", "error": "truncated", "model_version": "m"}, "batch-1")
    assert bad == {
        "status": "error",
        "predicted_label": None,
        "error_stage": "decode",
        "error": "truncated",
        "batch_id": "batch-1",
        "model_version": "m",
    }
