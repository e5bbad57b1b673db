"""The classification engine: train on the curated rows of the store and people's trusted corrections,
choose the model by cross-validation, judge it with the promotion gate, save a version in the registry.

1. **Data.** Curated rows are the labelled rows of the newest CNN (label = the upload's folder or the
   manifest's label), deduplicated by ``image_id``; they are split into train and validation
   deterministically, by path (``--train-from-path Training --validation-from-path Test``, Fruits-360's
   own split) or by ``image_id`` hash. People's corrections (``<store>/corrections``) join the
   *training* rows only, by image id, each weighted by the trust rule (:mod:`spark_app.core.corrections`);
   the validation set stays curated.
2. **Choice.** k-fold cross-validation on the curated training rows only
   (:mod:`spark_app.models.selection`) chooses the head and its regularisation: a multinomial logistic
   regression (pyspark.ml, standardization on) for each ``regParam`` of a small grid, or a
   1-nearest-neighbour head on the same features (when there are at most ``MAX_NN_PROTOTYPES`` training
   images). The chosen model is fitted on curated + trusted corrections (``weightCol``). Should it score
   below the 1-NN baseline on validation, the 1-NN head is kept instead: the saved model always matches
   the baseline. The 1-NN head (and baseline) keeps the curated training images only: corrections
   teach the logistic regression, whose weights hold no per-image data, never a stored image list.
3. **Judgment.** The promotion gate (:mod:`spark_app.models.gate`) compares it with the promoted
   version on the same curated validation images; its verdict goes into the version's metadata.

It reports top-1/top-3 accuracy, macro-F1, per-class recall, the 1-NN baseline and a confusion-matrix
PNG, and saves a version (a logistic regression's coefficients, or the 1-NN head's training features as
float16 unit rows, as arrays; the rest as metadata) that is promoted like a PCA basis
(:mod:`spark_app.models.registry`; ``promote --gate`` checks the verdict). Batches and the answer Lambda
predict with those arrays in NumPy (``core/heads.py``); training checks that they reproduce pyspark.ml's
own probabilities.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from spark_app.core.corrections import Trust
from spark_app.core.defaults import (
    CV_FOLDS,
    FEATURES_DIR,
    GATE_TOLERANCE,
    LATEST,
    MAX_NN_PROTOTYPES,
    MAX_WEIGHT_PER_IDENTITY,
    MIN_PER_CLASS,
    REG_PARAM_GRID,
    VALIDATION_PERCENT,
)
from spark_app.core.heads import (
    FEATURE_KINDS,
    HEAD_KINDS,
    LOGISTIC,
    NEAREST,
    PCA,
    RAW,
    Classifier,
    class_probabilities,
    unit_rows,
)
from spark_app.core.metrics import nearest_neighbour_predictions, top_k_accuracy
from spark_app.core.uris import join_uri
from spark_app.models import gate, registry
from spark_app.models.evaluation import (
    Validation,
    confusion_png,
    numpy_agreement,
    spark_probabilities,
    validation_metrics,
    validation_set,
)
from spark_app.models.selection import Candidate, Selection, cross_validate, stratified_folds
from spark_app.models.training_rows import (
    VECTOR,
    ClassifierError,
    CuratedRows,
    check_classes,
    collect_rows,
    compact,
    labelled,
    model_rows,
    prepared_rows,
    split,
    trusted_corrections,
)
from spark_app.store import spark_fs
from spark_app.store.corrections import corrections_root
from spark_app.store.partitions import read_dataset

__all__ = ["CONFUSION_PNG", "ClassifierError", "TrainedClassifier", "train"]

CONFUSION_PNG = "confusion_matrix.png"
#: ``train(corrections=NO_CORRECTIONS)``: train on curated rows only.
NO_CORRECTIONS = "none"
#: Logistic regressions fitted at once during cross-validation (Spark jobs from driver threads).
CV_PARALLELISM = 3

log = logging.getLogger("fruits")


@dataclass
class TrainedClassifier:
    """A trained, saved (not promoted) classifier and its validation metrics."""

    version: str
    uri: str
    metrics: dict[str, Any]


@dataclass
class _Trained:
    """What the Spark side of training gives: the choice, the fitted model and the validation set."""

    labels: list[str]
    counts: dict[str, int]
    curated_labels: list[str]
    first: Any  # model_version, pca_version of the curated rows
    trust: Trust
    prototypes: CuratedRows
    nearest: bool
    selection: Selection
    fitted: Any
    valid: Validation
    spark_probabilities: dict | None
    seconds: dict[str, float]


def train(
    spark: Any,
    store: str,
    classifier_dir: str,
    *,
    features: str = RAW,
    min_per_class: int = MIN_PER_CLASS,
    train_path: str | None = None,
    validation_path: str | None = None,
    validation_percent: int = VALIDATION_PERCENT,
    reg_params: tuple[float, ...] = REG_PARAM_GRID,
    folds: int = CV_FOLDS,
    heads: tuple[str, ...] = HEAD_KINDS,
    corrections: str | None = None,
    max_weight_per_identity: float = MAX_WEIGHT_PER_IDENTITY,
    max_nn_prototypes: int = MAX_NN_PROTOTYPES,
    gate_tolerance: float = GATE_TOLERANCE,
) -> TrainedClassifier:
    """Train, validate, judge and save a new classifier version (not promoted).

    ``corrections``: where people's corrections are (default ``<store>/corrections``; ``none``: curated
    rows only). ``reg_params`` x ``heads``: the candidates cross-validation chooses from.
    """
    _check_options(features, heads, reg_params, folds, max_weight_per_identity)
    root = corrections_root(store) if corrections is None else corrections
    split_info = {"train_path": train_path, "validation_path": validation_path, "percent": validation_percent}
    t = _train_in_spark(
        spark,
        store,
        features=features,
        min_per_class=min_per_class,
        split_info=split_info,
        candidates=(reg_params, folds, heads),
        corrections=None if root == NO_CORRECTIONS else root,
        max_weight_per_identity=max_weight_per_identity,
        max_nn_prototypes=max_nn_prototypes,
    )
    labels, valid = t.labels, t.valid
    baseline = nearest_neighbour_predictions(t.prototypes.x, t.prototypes.labels, valid.x)
    chosen, classifier, note = _chosen_classifier(
        t.selection, t.fitted, t.prototypes if t.nearest else None, valid, baseline, labels, features, t.first
    )
    metrics = validation_metrics(valid, class_probabilities(classifier, valid.x), labels, baseline)
    if t.spark_probabilities is not None and chosen.head == LOGISTIC:
        metrics["numpy_max_abs_difference"] = numpy_agreement(
            valid, t.spark_probabilities, *_coefficients(t.fitted)
        )
    promoted_uri = registry.resolve(LATEST, classifier_dir)
    verdict = gate.judge(
        top1=metrics["top1_accuracy"],
        baseline_top1=metrics["nearest_neighbour_top1_accuracy"],
        promoted=registry.load_classifier(promoted_uri) if promoted_uri else None,
        valid=valid.gate_set,
        tolerance=gate_tolerance,
    )
    fitted_at = datetime.now(UTC)
    version = registry.Version(
        name=registry.new_version_name(registry.CLASSIFIER_KIND, features, fitted_at),
        kind=registry.CLASSIFIER_KIND,
        fitted_at=registry.now_iso(),
        model_version=t.first["model_version"],
        info={
            "features": features,
            "labels": labels,
            "head": chosen.head,
            "reg_param": chosen.reg_param,
            "temperature": classifier.temperature if chosen.head == NEAREST else None,
            "pca_version": t.first["pca_version"] if features == PCA else None,
            "curated_labels": t.curated_labels,
            "train_images": int(sum(t.counts.values())),
            **t.seconds,
            "selection": {
                "scores": t.selection.scores,
                "cv_choice": t.selection.chosen.name,
                "chosen": chosen.name,
                "folds": t.selection.folds,
                "held_out_images": t.selection.held_out,
                "note": "; ".join(n for n in (t.selection.note, note) if n),
            },
            "corrections": t.trust.counts,
            "split": split_info,
            "metrics": metrics,
            gate.GATE_KEY: verdict.to_info(),
        },
    )
    uri = registry.save_version(
        classifier_dir,
        version,
        _arrays(classifier),
        {CONFUSION_PNG: confusion_png(version.name, labels, metrics)},
    )
    return TrainedClassifier(version.name, uri, {"version": version.name, **version.info, **metrics})


def _train_in_spark(
    spark: Any,
    store: str,
    *,
    features: str,
    min_per_class: int,
    split_info: dict[str, Any],
    candidates: tuple[tuple[float, ...], int, tuple[str, ...]],
    corrections: str | None,
    max_weight_per_identity: float,
    max_nn_prototypes: int,
) -> _Trained:
    """Read the store's rows, choose the head by cross-validation, fit it, collect the validation set."""
    reg_params, folds, heads = candidates
    with spark_fs.readable(spark, join_uri(store, FEATURES_DIR)) as features_dir:
        stored = read_dataset(spark, features_dir)
        if stored is None:
            raise ClassifierError(f"no features in {store}: nothing to train on")
        rows = model_rows(stored, features)
        curated = rows.filter(labelled()).dropDuplicates(["image_id"])
        train_rows, valid_rows = split(
            curated,
            train_path=split_info["train_path"],
            validation_path=split_info["validation_path"],
            percent=split_info["percent"],
        )
        counts = {r["label"]: r["count"] for r in train_rows.groupBy("label").count().collect()}
        check_classes(counts, min_per_class)
        labels = sorted(counts)
        first = curated.select("pca_version", "model_version").first()
        curated_labels = sorted(r[0] for r in curated.select("label").distinct().collect())
        prepared = compact(prepared_rows(train_rows, features, labels), sum(counts.values())).cache()
        try:
            curated_train = collect_rows(prepared)  # 1-NN keeps curated images only: never a person's upload
            trust, correction_frame = trusted_corrections(
                spark, rows, labels, features, corrections, max_weight_per_identity
            )
            nearest = NEAREST in heads and len(curated_train.labels) <= max_nn_prototypes
            if not nearest and LOGISTIC not in heads:
                raise ClassifierError(
                    f"a 1-NN head keeps at most {max_nn_prototypes:,} training images, not "
                    f"{len(curated_train.labels):,}: let cross-validation consider logistic regression"
                )
            started = time.perf_counter()
            selection = _select(spark, prepared, curated_train, labels, reg_params, folds, heads, nearest)
            selection_seconds = time.perf_counter() - started
            started = time.perf_counter()
            fitted = _fit(prepared, correction_frame, selection.chosen)
            train_seconds = time.perf_counter() - started
            valid = validation_set(valid_rows, labels, features, first)
            probabilities = spark_probabilities(fitted, valid_rows, labels, features)
        finally:
            prepared.unpersist()
    return _Trained(
        labels=labels,
        counts=counts,
        curated_labels=curated_labels,
        first=first,
        trust=trust,
        prototypes=curated_train,
        nearest=nearest,
        selection=selection,
        fitted=fitted,
        valid=valid,
        spark_probabilities=probabilities,
        seconds={"train_seconds": round(train_seconds, 3), "selection_seconds": round(selection_seconds, 3)},
    )


def _check_options(
    features: str, heads: tuple[str, ...], reg_params: tuple[float, ...], folds: int, cap: float
) -> None:
    if features not in FEATURE_KINDS:
        raise ClassifierError(f"unknown features {features!r}; choose one of {', '.join(FEATURE_KINDS)}")
    if not heads or set(heads) - set(HEAD_KINDS) or (LOGISTIC in heads and not reg_params):
        raise ClassifierError(f"heads must be among {', '.join(HEAD_KINDS)} (logistic needs a regParam)")
    if any(r < 0 for r in reg_params) or folds < 2 or cap <= 0:
        raise ClassifierError("regParam must be >= 0, folds >= 2 and the weight per identity > 0")


def _logistic(reg_param: float) -> Any:
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(
        featuresCol=VECTOR,
        labelCol="y",
        weightCol="w",
        family="multinomial",
        regParam=reg_param,
        standardization=True,
        maxIter=200,
    )


def _coefficients(model: Any) -> tuple[np.ndarray, np.ndarray]:
    return model.coefficientMatrix.toArray(), model.interceptVector.toArray()


def _select(
    spark: Any,
    prepared: Any,
    curated: CuratedRows,
    labels: list[str],
    reg_params: tuple[float, ...],
    k: int,
    heads: tuple[str, ...],
    nearest: bool,
) -> Selection:
    """Cross-validation on the curated training rows (logistic fits in Spark, scoring in NumPy)."""
    from pyspark.sql import functions as F

    index = {label: i for i, label in enumerate(labels)}
    y = np.asarray([index[label] for label in curated.labels])
    folds = stratified_folds(list(curated.labels), [str(i) for i in curated.image_ids], k)
    assignment = spark.createDataFrame(
        [(str(i), int(f)) for i, f in zip(curated.image_ids, folds, strict=True)], "image_id string, fold int"
    )
    by_fold = prepared.join(F.broadcast(assignment), "image_id").cache()
    try:
        return cross_validate(
            curated.x,
            y,
            folds,
            n_classes=len(labels),
            reg_params=reg_params if LOGISTIC in heads else (),
            nearest=nearest,
            fit=lambda fold, reg: _coefficients(_logistic(reg).fit(by_fold.filter(F.col("fold") != fold))),
            parallelism=CV_PARALLELISM,
        )
    finally:
        by_fold.unpersist()


def _fit(prepared: Any, correction_frame: Any, chosen: Candidate) -> Any:
    """The chosen logistic regression fitted on curated + trusted corrections (None for 1-NN)."""
    if chosen.head != LOGISTIC:
        return None
    if correction_frame is None:
        return _logistic(chosen.reg_param).fit(prepared)
    frame = prepared.unionByName(correction_frame)
    return _logistic(chosen.reg_param).fit(compact(frame, frame.count()))


def _chosen_classifier(
    selection: Selection,
    fitted: Any,
    prototypes: CuratedRows | None,
    valid: Validation,
    baseline: np.ndarray,
    labels: list[str],
    features: str,
    first: Any,
) -> tuple[Candidate, Classifier, str]:
    """The saved head: the cross-validation's choice, or 1-NN (``prototypes``: None when not allowed)
    when the choice falls below the 1-NN baseline on validation."""
    common = {
        "version": "candidate",
        "labels": tuple(labels),
        "features": features,
        "model_version": first["model_version"],
        "pca_version": first["pca_version"] if features == PCA else None,
    }
    nearest = None
    if prototypes is not None:
        index = {label: i for i, label in enumerate(labels)}
        y = np.asarray([index[label] for label in prototypes.labels], dtype=np.int32)
        order = np.argsort(y, kind="stable")
        stored = unit_rows(prototypes.x[order]).astype(np.float16)  # what is saved, and served
        nearest = Classifier(
            **common,
            weights=None,
            intercepts=None,
            head=NEAREST,
            prototypes=unit_rows(stored),
            prototype_labels=y[order],
            temperature=selection.temperature,
        )
    if selection.chosen.head == NEAREST:
        return selection.chosen, nearest, ""
    weights, intercepts = _coefficients(fitted)
    logistic = Classifier(**common, weights=weights, intercepts=intercepts)
    top1 = top_k_accuracy(class_probabilities(logistic, valid.x), valid.truth, 1)
    if nearest is not None and top1 < np.mean(baseline == np.asarray(labels)[valid.truth]):
        return Candidate(NEAREST), nearest, f"{selection.chosen.name} fell below the 1-NN baseline: 1-NN kept"
    return selection.chosen, logistic, ""


def _arrays(classifier: Classifier) -> dict[str, np.ndarray]:
    if classifier.head == NEAREST:
        return {
            "prototypes": classifier.prototypes.astype(np.float16),
            "prototype_labels": classifier.prototype_labels.astype(np.int32),
        }
    return {"weights": classifier.weights, "intercepts": classifier.intercepts}
