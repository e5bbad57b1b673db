"""The heads applied in the extraction pass: NumPy projection and prediction, nulls where no features."""

from __future__ import annotations

import numpy as np
import pytest

from spark_app.heads import PCA, RAW, Heads, apply_heads


def test_projection_and_prediction_in_one_numpy_pass() -> None:
    rng = np.random.default_rng(3)
    features = [rng.random(6).astype(np.float32), None, rng.random(6).astype(np.float32)]
    components = rng.normal(size=(6, 2)).astype(np.float32)
    weights, intercepts = rng.normal(size=(3, 6)), np.zeros(3)
    heads = Heads(components, "pca-v", weights, intercepts, ("a", "b", "c"), RAW, "clf-v", 0.0)
    out = apply_heads(features, heads)
    np.testing.assert_allclose(out["pca"][0], features[0] @ components, rtol=1e-5)
    assert out["pca"][1] is None and out["predicted_label"][1] is None  # an error row stays empty
    assert out["pca_version"] == ["pca-v", None, "pca-v"] and out["classifier_version"][2] == "clf-v"
    expected = ["abc"[int(np.argmax(weights @ f))] for f in (features[0], features[2])]
    assert [out["predicted_label"][0], out["predicted_label"][2]] == expected
    assert sum(out["top3_confidences"][0]) == pytest.approx(1.0)  # 3 classes: the whole distribution


def test_a_pca_input_classifier_needs_the_basis() -> None:
    assert not Heads(classifier_weights=np.zeros((2, 3)), classifier_features=PCA).predicts
    assert Heads(np.zeros((4, 3)), "p", np.zeros((2, 3)), np.zeros(2), ("a", "b"), PCA).predicts
    assert apply_heads([np.ones(4)], None)["pca"] == [None]
