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


def test_a_pca_classifier_predicts_only_on_the_basis_it_was_trained_on() -> None:
    import numpy as np

    from spark_app.classifier import LoadedClassifier
    from spark_app.pca import PcaResult
    from spark_app.pipeline import _usable_classifier

    def basis(version: str) -> PcaResult:
        return PcaResult(None, version, 2, [0.5, 0.2], [], 0.0, False, np.zeros((1280, 2)))

    on_pca = LoadedClassifier(None, ["a", "b"], "pca", "clf-1", "pca-1")
    raw = LoadedClassifier(None, ["a", "b"], "raw", "clf-2", None)
    assert _usable_classifier(on_pca, basis("pca-1")) is on_pca
    assert _usable_classifier(on_pca, basis("pca-2")) is None  # promoted basis moved on: no prediction
    assert _usable_classifier(on_pca, None) is None
    assert _usable_classifier(raw, None) is raw and _usable_classifier(None, None) is None


def test_a_basis_or_classifier_of_another_model_is_refused() -> None:
    import numpy as np
    import pytest

    from spark_app.classifier import ClassifierError, LoadedClassifier
    from spark_app.pca import PcaError, PcaResult, weights_tag_of
    from spark_app.pipeline import _check_same_model

    fp32, int8 = "mobilenet@6714965a05ee", "mobilenet@6714965a05ee-int8"
    basis = PcaResult(None, "pca-k2-20261202T101500Z-6714965a05ee-3f9a1c", 2, [], [], 0.0, False, np.zeros(1))
    assert weights_tag_of(basis.version) == "6714965a05ee"
    assert weights_tag_of("pca-k2-20261202T101500Z-6714965a05ee-int8-3f9a1c") == "6714965a05ee-int8"
    clf = LoadedClassifier(None, ["a"], "raw", "clf-1", None, model_version=fp32)
    _check_same_model(basis, clf, fp32)  # the same model: accepted
    with pytest.raises(PcaError, match="fitted on features of another model"):
        _check_same_model(basis, None, int8)
    with pytest.raises(ClassifierError, match=r"trained on mobilenet@6714965a05ee features, not .*-int8"):
        _check_same_model(None, clf, int8)
