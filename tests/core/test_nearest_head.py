"""The 1-nearest-neighbour head: the 1-NN's answer, probabilities, batches, and what the registry stores."""

from __future__ import annotations

import numpy as np
import pytest

from spark_app.core.heads import (
    NEAREST,
    RAW,
    Classifier,
    Heads,
    apply_heads,
    class_probabilities,
    nearest_class_similarities,
    unit_rows,
)
from spark_app.core.metrics import nearest_neighbour_predictions
from spark_app.models import registry

CNN = "mobilenet@6714965a05ee"


def _data(seed: int = 0, per_class: int = 20, d: int = 32):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 3
    y = np.repeat(np.arange(3), per_class)
    return (centres[y] + rng.normal(size=(len(y), d))).astype(np.float32), y


def _nearest(x: np.ndarray, y: np.ndarray, temperature: float = 0.05) -> Classifier:
    order = np.argsort(y, kind="stable")
    return Classifier(
        "clf-nn",
        None,
        None,
        ("a", "b", "c"),
        RAW,
        CNN,
        head=NEAREST,
        prototypes=unit_rows(x[order]),
        prototype_labels=y[order],
        temperature=temperature,
    )


def test_the_heads_top1_is_the_nearest_training_images_label() -> None:
    x, y = _data()
    queries, _ = _data(seed=1)
    clf = _nearest(x, y)
    expected = nearest_neighbour_predictions(x, np.asarray(clf.labels)[y], queries)
    probabilities = class_probabilities(clf, queries)
    assert list(np.asarray(clf.labels)[probabilities.argmax(axis=1)]) == list(expected)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    # The brute force: the most similar training image, one query at a time.
    for q, answer in zip(queries[:5], expected[:5], strict=True):
        assert clf.labels[y[np.argmax(unit_rows(x) @ unit_rows(q[None])[0])]] == answer


def test_chunks_give_the_same_similarities_and_a_class_without_images_gets_none() -> None:
    x, y = _data()
    keep = y != 1  # no image of class 1
    best = nearest_class_similarities(np.tile(x, (30, 1)), unit_rows(x[keep]), y[keep], 3)  # 1,800 rows
    assert best.shape == (1800, 3) and np.isneginf(best[:, 1]).all()
    np.testing.assert_allclose(best[:60], best[-60:], rtol=1e-5)
    probabilities = class_probabilities(_nearest(x[keep], y[keep]), x)
    assert np.all(probabilities[:, 1] == 0.0)
    with pytest.raises(ValueError, match="ascending order"):
        nearest_class_similarities(x, unit_rows(x), y[::-1], 3)


def test_a_batch_is_answered_by_a_nearest_neighbour_head_as_by_a_logistic_one() -> None:
    x, y = _data()
    out = apply_heads([x[0], None, x[25]], Heads(classifier=_nearest(x, y), threshold=0.0))
    assert out["predicted_label"] == ["a", None, "b"] and out["classifier_version"] == [
        "clf-nn",
        None,
        "clf-nn",
    ]
    assert len(out["top3_labels"][0]) == 3 and out["top3_confidences"][0][0] >= out["top3_confidences"][0][1]


def test_the_registry_stores_float16_unit_rows_and_loads_the_same_answers(tmp_path) -> None:
    x, y = _data()
    stored = unit_rows(x).astype(np.float16)
    version = registry.Version(
        "clf-raw-nn",
        registry.CLASSIFIER_KIND,
        registry.now_iso(),
        CNN,
        {"labels": ["a", "b", "c"], "features": RAW, "head": NEAREST, "temperature": 0.02},
    )
    uri = registry.save_version(str(tmp_path), version, {"prototypes": stored, "prototype_labels": y})
    loaded = registry.load_classifier(uri)
    assert loaded.head == NEAREST and loaded.weights is None and loaded.temperature == 0.02
    assert loaded.prototypes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(loaded.prototypes, axis=1), 1.0, rtol=1e-6)
    queries, _ = _data(seed=2)
    full = class_probabilities(_nearest(x, y), queries).argmax(axis=1)
    assert np.mean(class_probabilities(loaded, queries).argmax(axis=1) == full) >= 0.98  # float16 rounding
