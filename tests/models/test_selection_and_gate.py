"""Choosing the classifier by cross-validation, and the promotion gate (NumPy and the registry only)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from spark_app.core.heads import LOGISTIC, NEAREST, PCA, RAW, Classifier
from spark_app.models import gate, registry
from spark_app.models.selection import (
    TEMPERATURES,
    Candidate,
    choose,
    cross_validate,
    fit_temperature,
    stratified_folds,
)

CNN = "mobilenet@6714965a05ee"


def test_folds_spread_every_class_evenly_and_never_change() -> None:
    labels = ["a"] * 7 + ["b"] * 5 + ["c"] * 1
    keys = [f"img-{n}" for n in range(len(labels))]
    folds = stratified_folds(labels, keys, 3)
    for label in "ab":
        counts = Counter(folds[i] for i, x in enumerate(labels) if x == label)
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == 3
    assert sorted(Counter(folds.tolist()).values()) == [4, 4, 5]  # balanced over classes too
    shuffled = list(reversed(range(len(labels))))
    again = stratified_folds([labels[i] for i in shuffled], [keys[i] for i in shuffled], 3)
    assert [again[shuffled.index(i)] for i in range(len(labels))] == folds.tolist()  # order-independent


def test_ties_go_to_logistic_regression_then_to_the_strongest_regularisation() -> None:
    lr = [Candidate(LOGISTIC, r) for r in (1e-3, 1e-1, 1e-2)]
    assert choose({lr[0]: 0.9, lr[1]: 0.9, lr[2]: 0.9, Candidate(NEAREST): 0.9}) == lr[1]
    assert choose({lr[0]: 0.95, lr[1]: 0.9, Candidate(NEAREST): 0.9}) == lr[0]
    assert choose({lr[0]: 0.9, Candidate(NEAREST): 0.91}) == Candidate(NEAREST)
    assert Candidate(LOGISTIC, 0.03).name == "logistic(regParam=0.03)" and Candidate(NEAREST).name == "1-NN"


def _blobs(seed: int = 0, per_class: int = 12, d: int = 8):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), per_class)
    return (rng.normal(size=(3, d))[y] * 4 + rng.normal(size=(len(y), d))).astype(np.float32), y


def test_cross_validation_fits_every_fold_and_regparam_and_scores_each_held_out_image_once() -> None:
    x, y = _blobs()
    folds = stratified_folds([str(v) for v in y], [str(i) for i in range(len(y))], 3)
    calls = []

    def fit(fold: int, reg: float):  # a "model" that is right on class 0 only, whatever it learns
        calls.append((fold, reg))
        weights = np.zeros((3, x.shape[1]))
        return weights, np.array([1.0, 0.0, 0.0] if reg < 0.05 else [0.0, 1.0, 0.0])

    selection = cross_validate(x, y, folds, n_classes=3, reg_params=(0.01, 0.1), nearest=True, fit=fit)
    assert sorted(calls) == [(f, r) for f in range(3) for r in (0.01, 0.1)]
    assert selection.held_out == len(y) and selection.folds == 3
    assert selection.scores["logistic(regParam=0.01)"] == pytest.approx(1 / 3)
    assert selection.scores["1-NN"] == 1.0 and selection.chosen == Candidate(NEAREST)
    assert selection.temperature in TEMPERATURES


def test_with_one_image_per_class_or_one_candidate_there_is_nothing_to_cross_validate() -> None:
    x, y = _blobs(per_class=1)
    folds = stratified_folds([str(v) for v in y], ["a", "b", "c"], 3)

    def never(fold: int, reg: float):
        raise AssertionError("no fit expected")

    one = cross_validate(x, y, folds, n_classes=3, reg_params=(0.01,), nearest=False, fit=never)
    assert one.chosen == Candidate(LOGISTIC, 0.01) and one.note == "one candidate"
    x, y = _blobs(per_class=1)
    tiny = cross_validate(
        x, y, np.zeros(3, dtype=int), n_classes=3, reg_params=(0.01, 0.1), nearest=True, fit=never
    )
    assert tiny.chosen == Candidate(LOGISTIC, 0.1) and "too few images" in tiny.note


def test_the_temperature_sharpens_as_the_nearest_class_gets_more_reliable() -> None:
    truth = np.zeros(50, dtype=int)
    clear = np.tile([[0.9, 0.5, 0.4]], (50, 1))
    assert fit_temperature(clear, truth) == min(TEMPERATURES)
    noisy = clear.copy()
    noisy[::2] = [0.5, 0.52, 0.4]  # every other image: the wrong class is a little closer
    assert fit_temperature(noisy, truth) > min(TEMPERATURES)


# ------------------------------------------------------------------------------- the gate


def _logistic(
    version: str, bias: list[float], features: str = RAW, pca_version=None, model=CNN
) -> Classifier:
    return Classifier(
        version, np.zeros((2, 4)), np.asarray(bias), ("Kiwi", "Lemon"), features, model, pca_version
    )


VALID = gate.ValidationSet(
    raw=np.ones((10, 4), dtype=np.float32),
    pca=[np.ones(2, dtype=np.float32)] * 10,
    pca_versions=["pca-1"] * 10,
    labels=np.asarray(["Kiwi"] * 9 + ["Lemon"]),
    model_version=CNN,
)


def test_the_gate_compares_with_the_promoted_version_on_the_same_curated_images() -> None:
    promoted = _logistic("clf-old", [1.0, 0.0])  # says Kiwi: 9 of 10
    passed = gate.judge(top1=0.9, baseline_top1=0.9, promoted=promoted, valid=VALID, tolerance=0.005)
    assert passed.passed and passed.promoted_top1 == 0.9 and passed.against == "clf-old"
    worse = gate.judge(top1=0.89, baseline_top1=0.8, promoted=promoted, valid=VALID, tolerance=0.005)
    assert not worse.passed and "more than 0.5 point below the promoted clf-old's 0.9000" in worse.reasons[0]
    assert gate.judge(top1=0.896, baseline_top1=0.8, promoted=promoted, valid=VALID, tolerance=0.005).passed
    below = gate.judge(top1=0.9, baseline_top1=0.95, promoted=None, valid=VALID, tolerance=0.005)
    assert not below.passed and "below the 1-NN baseline 0.9500" in below.reasons[0] and below.against is None


def test_a_promoted_version_that_cannot_be_applied_is_no_reference() -> None:
    other_cnn = _logistic("clf-int8", [1.0, 0.0], model="mobilenet@int8")
    old_basis = _logistic("clf-pca", [1.0, 0.0], PCA, "pca-0")
    on_basis = Classifier(
        "clf-pca1", np.zeros((2, 2)), np.asarray([0.0, 1.0]), ("Kiwi", "Lemon"), PCA, CNN, "pca-1"
    )
    for promoted, note in ((other_cnn, "another CNN"), (old_basis, "which the store has left")):
        verdict = gate.judge(top1=0.1, baseline_top1=0.1, promoted=promoted, valid=VALID, tolerance=0.005)
        assert verdict.passed and verdict.promoted_top1 is None and note in verdict.note
    verdict = gate.judge(top1=0.5, baseline_top1=0.1, promoted=on_basis, valid=VALID, tolerance=0.005)
    assert verdict.promoted_top1 == pytest.approx(0.1) and verdict.passed  # Lemon: 1 of 10


def _save(model_dir: str, name: str, fitted_at: str, verdict: dict | None) -> None:
    info = {"labels": ["Kiwi", "Lemon"], "features": RAW, **({gate.GATE_KEY: verdict} if verdict else {})}
    version = registry.Version(name, registry.CLASSIFIER_KIND, fitted_at, CNN, info)
    registry.save_version(model_dir, version, {"weights": np.zeros((2, 4)), "intercepts": np.zeros(2)})


def test_promote_gate_refuses_a_refused_an_ungated_or_an_outdated_verdict(tmp_path) -> None:
    model_dir = str(tmp_path)
    ok = {"passed": True, "against": None, "reasons": []}
    _save(model_dir, "clf-a", "2026-12-01T00:00:00+00:00", ok)
    assert gate.promote_if_passed(model_dir).current == "clf-a"
    _save(model_dir, "clf-b", "2026-12-02T00:00:00+00:00", {**ok, "passed": False, "reasons": ["top-1 x"]})
    with pytest.raises(gate.GateRefused, match="the gate refused clf-b: top-1 x; nothing promoted"):
        gate.promote_if_passed(model_dir)
    _save(model_dir, "clf-c", "2026-12-03T00:00:00+00:00", None)
    with pytest.raises(gate.GateRefused, match="clf-c has no gate verdict"):
        gate.promote_if_passed(model_dir, "clf-c")
    _save(model_dir, "clf-d", "2026-12-04T00:00:00+00:00", ok)  # judged while nothing was promoted
    with pytest.raises(registry.PromotionError, match="names clf-a, not nothing"):
        gate.promote_if_passed(model_dir, "clf-d")
    assert registry.promoted_version(model_dir) == "clf-a"
    _save(model_dir, "clf-e", "2026-12-05T00:00:00+00:00", {**ok, "against": "clf-a"})
    assert gate.promote_if_passed(model_dir).current == "clf-e"
    assert gate.promote_if_passed(model_dir, "clf-e").changed is False  # a retried step changes nothing
