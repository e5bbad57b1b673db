"""The heads: NumPy projection and prediction, nulls where no features, and which heads may run together."""

from __future__ import annotations

import numpy as np
import pytest

from spark_app.core.heads import PCA, RAW, Basis, Classifier, Heads, ModelMismatch, apply_heads

FP32, INT8 = "mobilenet@6714965a05ee", "mobilenet@6714965a05ee-int8"


def _basis(version: str = "pca-v", model: str = FP32, d: int = 6, k: int = 2) -> Basis:
    return Basis(version, np.random.default_rng(1).normal(size=(d, k)).astype(np.float32), model)


def _classifier(
    features: str = RAW, pca_version: str | None = None, model: str = FP32, d: int = 6
) -> Classifier:
    rng = np.random.default_rng(2)
    return Classifier(
        "clf-v", rng.normal(size=(3, d)), np.zeros(3), ("a", "b", "c"), features, model, pca_version
    )


def test_projection_and_prediction_in_one_numpy_pass() -> None:
    rng = np.random.default_rng(3)
    features = [rng.random(6).astype(np.float32), None, rng.random(6).astype(np.float32)]
    basis, clf = _basis(), _classifier()
    out = apply_heads(features, Heads(basis, clf, threshold=0.0))
    np.testing.assert_allclose(out["pca"][0], features[0] @ basis.components, rtol=1e-5)
    assert out["pca"][1] is None and out["predicted_label"][1] is None  # an error row stays empty
    assert out["pca_version"] == ["pca-v", None, "pca-v"] and out["classifier_version"][2] == "clf-v"
    expected = ["abc"[int(np.argmax(clf.weights @ f))] for f in (features[0], features[2])]
    assert [out["predicted_label"][0], out["predicted_label"][2]] == expected
    assert sum(out["top3_confidences"][0]) == pytest.approx(1.0)  # 3 classes: the whole distribution


def test_below_the_threshold_the_answer_is_unknown() -> None:
    out = apply_heads([np.ones(6, dtype=np.float32)], Heads(classifier=_classifier(), threshold=1.0))
    assert out["predicted_label"] == ["unknown"] and out["top3_labels"][0][0] in ("a", "b", "c")


def test_a_pca_classifier_predicts_only_on_the_basis_it_was_trained_on() -> None:
    on_pca = _classifier(PCA, "pca-1", d=2)
    assert Heads.for_model(FP32, _basis("pca-1"), on_pca).classifier is on_pca
    assert Heads.for_model(FP32, _basis("pca-2"), on_pca).classifier is None  # the basis moved on
    assert Heads.for_model(FP32, None, on_pca).classifier is None
    raw = _classifier()
    assert Heads.for_model(FP32, None, raw).classifier is raw
    assert Heads.for_model(FP32, None, None).empty
    assert apply_heads([np.ones(4)], None)["pca"] == [None]


def test_a_basis_or_classifier_of_another_model_is_refused() -> None:
    Heads.for_model(FP32, _basis(), _classifier())  # the same model: accepted
    with pytest.raises(
        ModelMismatch, match=r"PCA basis pca-v was made from .*6714965a05ee features, not .*-int8"
    ):
        Heads.for_model(INT8, _basis(), None)
    with pytest.raises(
        ModelMismatch, match=r"classifier clf-v was made from .*6714965a05ee features, not .*-int8"
    ):
        Heads.for_model(INT8, None, _classifier())
