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

import io
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from spark_app.core.corrections import Trust, trusted_labels
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
    softmax_probabilities,
    unit_rows,
)
from spark_app.core.metrics import (
    confusion_matrix,
    macro_f1,
    nearest_neighbour_predictions,
    per_class_recall,
    top_k_accuracy,
)
from spark_app.core.uris import join_uri
from spark_app.models import gate, registry
from spark_app.models.selection import Candidate, Selection, cross_validate, stratified_folds
from spark_app.store import spark_fs
from spark_app.store.corrections import corrections_root, read_corrections
from spark_app.store.partitions import read_dataset

CONFUSION_PNG = "confusion_matrix.png"
VECTOR = "classifier_input"
#: ``train(corrections=NO_CORRECTIONS)``: train on curated rows only.
NO_CORRECTIONS = "none"
#: Logistic regressions fitted at once during cross-validation (Spark jobs from driver threads).
CV_PARALLELISM = 3
#: Training rows per partition of the logistic regression's input, at least (see :func:`_compact`).
ROWS_PER_PARTITION = 500

log = logging.getLogger("fruits")


class ClassifierError(registry.RegistryError):
    """A classifier that cannot be trained (the message says why)."""


@dataclass
class TrainedClassifier:
    """A trained, saved (not promoted) classifier and its validation metrics."""

    version: str
    uri: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class _Rows:
    """Curated training rows collected to the driver (cross-validation scores them; 1-NN keeps them)."""

    image_ids: np.ndarray
    labels: np.ndarray
    x: np.ndarray  # the classifier's inputs


def _input_column(features: str) -> Any:
    from pyspark.ml.functions import array_to_vector

    return array_to_vector("features" if features == RAW else "pca")


def _labelled() -> Any:
    from pyspark.sql import functions as F

    return F.col("label").isNotNull() & (F.col("label") != "")


def model_rows(stored: Any, features: str) -> Any:
    """Every row (labelled or not) of the newest CNN model with labelled rows; for PCA features, only
    rows on the one basis of the labelled rows."""
    from pyspark.sql import functions as F

    newest = (
        stored.filter(_labelled())
        .groupBy("model_version")
        .agg(F.max("processed_at").alias("at"))
        .orderBy(F.desc("at"))
        .first()
    )
    if newest is None:
        raise ClassifierError("no labelled rows in the feature store: nothing to train on")
    rows = stored.filter(F.col("model_version") == newest["model_version"])
    if features == PCA:
        rows = rows.filter(F.col("pca").isNotNull())
        versions = [r[0] for r in rows.filter(_labelled()).select("pca_version").distinct().collect()]
        if len(versions) != 1:
            raise ClassifierError(
                f"PCA features of {len(versions)} bases: back-fill the store onto one first"
            )
        rows = rows.filter(F.col("pca_version") == versions[0])
    return rows


def labelled_rows(rows: Any, features: str) -> Any:
    """Distinct labelled (curated) images of the newest CNN model (and, for PCA, the promoted basis only)."""
    return model_rows(rows, features).filter(_labelled()).dropDuplicates(["image_id"])


def split(rows: Any, *, train_path: str | None, validation_path: str | None, percent: int) -> tuple[Any, Any]:
    """(train, validation): by path part (``/Test/``) when given, else by ``image_id`` hash."""
    from pyspark.sql import functions as F

    if validation_path:
        is_valid = F.col("path").contains(f"/{validation_path}/")
        train = rows.filter(~is_valid)
        if train_path:
            train = train.filter(F.col("path").contains(f"/{train_path}/"))
        return train, rows.filter(is_valid)
    bucket = F.pmod(F.xxhash64("image_id"), F.lit(100))
    return rows.filter(bucket >= percent), rows.filter(bucket < percent)


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
    with spark_fs.readable(spark, join_uri(store, FEATURES_DIR)) as features_dir:
        stored = read_dataset(spark, features_dir)
        if stored is None:
            raise ClassifierError(f"no features in {store}: nothing to train on")
        rows = model_rows(stored, features)
        curated = rows.filter(_labelled()).dropDuplicates(["image_id"])
        train_rows, valid_rows = split(
            curated, train_path=train_path, validation_path=validation_path, percent=validation_percent
        )
        counts = {r["label"]: r["count"] for r in train_rows.groupBy("label").count().collect()}
        _check_classes(counts, min_per_class)
        labels = sorted(counts)
        first = curated.select("pca_version", "model_version").first()
        curated_labels = sorted(r[0] for r in curated.select("label").distinct().collect())
        prepared = _compact(_prepared(train_rows, features, labels), sum(counts.values())).cache()
        try:
            curated_train = _collect(prepared)
            trust, correction_frame = _corrections(
                spark,
                rows,
                labels,
                features,
                None if root == NO_CORRECTIONS else root,
                max_weight_per_identity,
            )
            prototypes = curated_train  # 1-NN keeps curated images only: never a person's upload
            nearest = NEAREST in heads and len(prototypes.labels) <= max_nn_prototypes
            if not nearest and LOGISTIC not in heads:
                raise ClassifierError(
                    f"a 1-NN head keeps at most {max_nn_prototypes:,} training images, not "
                    f"{len(prototypes.labels):,}: let cross-validation consider logistic regression"
                )
            started = time.perf_counter()
            selection = _select(spark, prepared, curated_train, labels, reg_params, folds, heads, nearest)
            selection_seconds = time.perf_counter() - started
            started = time.perf_counter()
            fitted = _fit(prepared, correction_frame, selection.chosen)
            train_seconds = time.perf_counter() - started
            valid = _validation(valid_rows, labels, features, first)
            spark_probabilities = _spark_probabilities(fitted, valid_rows, labels, features)
        finally:
            prepared.unpersist()
    baseline = nearest_neighbour_predictions(prototypes.x, prototypes.labels, valid.x)
    chosen, classifier, note = _chosen_classifier(
        selection, fitted, prototypes if nearest else None, valid, baseline, labels, features, first
    )
    metrics = _metrics(valid, class_probabilities(classifier, valid.x), labels, baseline)
    if spark_probabilities is not None and chosen.head == LOGISTIC:
        metrics["numpy_max_abs_difference"] = _numpy_agreement(valid, spark_probabilities, fitted)
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
        model_version=first["model_version"],
        info={
            "features": features,
            "labels": labels,
            "head": chosen.head,
            "reg_param": chosen.reg_param,
            "temperature": classifier.temperature if chosen.head == NEAREST else None,
            "pca_version": first["pca_version"] if features == PCA else None,
            "curated_labels": curated_labels,
            "train_images": int(sum(counts.values())),
            "train_seconds": round(train_seconds, 3),
            "selection_seconds": round(selection_seconds, 3),
            "selection": {
                "scores": selection.scores,
                "cv_choice": selection.chosen.name,
                "chosen": chosen.name,
                "folds": selection.folds,
                "held_out_images": selection.held_out,
                "note": "; ".join(n for n in (selection.note, note) if n),
            },
            "corrections": trust.counts,
            "split": {
                "train_path": train_path,
                "validation_path": validation_path,
                "percent": validation_percent,
            },
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


def _check_options(
    features: str, heads: tuple[str, ...], reg_params: tuple[float, ...], folds: int, cap: float
) -> None:
    if features not in FEATURE_KINDS:
        raise ClassifierError(f"unknown features {features!r}; choose one of {', '.join(FEATURE_KINDS)}")
    if not heads or set(heads) - set(HEAD_KINDS) or (LOGISTIC in heads and not reg_params):
        raise ClassifierError(f"heads must be among {', '.join(HEAD_KINDS)} (logistic needs a regParam)")
    if any(r < 0 for r in reg_params) or folds < 2 or cap <= 0:
        raise ClassifierError("regParam must be >= 0, folds >= 2 and the weight per identity > 0")


def _check_classes(counts: dict[str, int], min_per_class: int) -> None:
    """Refuse classes too small to learn, and fewer than two classes."""
    small = {label: n for label, n in counts.items() if n < min_per_class}
    if small:
        listed = ", ".join(f"{label} ({n})" for label, n in sorted(small.items()))
        raise ClassifierError(
            f"classes with fewer than {min_per_class} training images: {listed}; add images of them "
            "or lower --min-per-class"
        )
    if len(counts) < 2:
        raise ClassifierError(f"{len(counts)} labelled class(es) in the store: at least 2 are needed")


def _label_index(frame: Any, labels: list[str]) -> Any:
    """``frame`` with ``y``, the index of its label, declared nominal with ``len(labels)`` values (so a
    cross-validation fold without some class still gets one coefficient row per class)."""
    from pyspark.sql import functions as F

    index = F.create_map(*[x for i, label in enumerate(labels) for x in (F.lit(label), F.lit(float(i)))])
    return frame.withColumn("y", index[F.col("label")]).withMetadata(
        "y", {"ml_attr": {"type": "nominal", "num_vals": len(labels)}}
    )


def _prepared(train_rows: Any, features: str, labels: list[str]) -> Any:
    """Curated training rows as the logistic regression takes them: inputs, label index, weight 1."""
    from pyspark.sql import functions as F

    frame = train_rows.select("image_id", "label", _input_column(features).alias(VECTOR))
    return _label_index(frame, labels).withColumn("w", F.lit(1.0))


def _compact(frame: Any, rows: int) -> Any:
    """``frame`` in as many partitions as cores, but no more than one per 500 rows: each L-BFGS
    iteration is one Spark job with a task per partition. Measured on 2 cores: 48 images fit in 2 s in one
    partition, 20 s in eight; 1,520 images in 18 s in one, 11 s in two, 10 s in four."""
    parallelism = frame.sparkSession.sparkContext.defaultParallelism
    return frame.coalesce(max(1, min(parallelism, rows // ROWS_PER_PARTITION)))


def _collect(frame: Any) -> _Rows:
    """The rows' ids, labels and inputs in the driver (one collect)."""
    from pyspark.ml.functions import vector_to_array

    data = frame.select("image_id", "label", vector_to_array(VECTOR).alias("x")).toPandas()
    return _Rows(np.asarray(data["image_id"]), np.asarray(data["label"]), np.stack(data["x"].to_numpy()))


def _corrections(
    spark: Any, rows: Any, labels: list[str], features: str, root: str | None, cap: float
) -> tuple[Trust, Any]:
    """The trusted corrections (by the trust rule) and their training rows (None when there are none)."""
    from pyspark.sql import functions as F

    read = read_corrections(root) if root else None
    records = read.records if read else ()
    if read and read.unreadable:
        log.warning("corrections: %d object(s) skipped (%s)", len(read.unreadable), read.unreadable[0][1])
    found = []
    if records:
        ids = spark.createDataFrame([(i,) for i in sorted({c.image_id for c in records})], "image_id string")
        found = (
            rows.join(F.broadcast(ids), "image_id")
            .groupBy("image_id")
            .agg(F.max(F.coalesce(_labelled(), F.lit(False))).alias("curated"))
            .collect()
        )
    trust = trusted_labels(
        records,
        classes=labels,
        curated_images={r["image_id"] for r in found if r["curated"]},
        uncurated_images={r["image_id"] for r in found if not r["curated"]},
        max_weight_per_identity=cap,
    )
    trust.counts["unreadable"] = len(read.unreadable) if read else 0
    if not trust.labels:
        return trust, None
    trusted = spark.createDataFrame(
        [(t.image_id, t.label, float(t.weight)) for t in trust.labels],
        "image_id string, label string, w double",
    )
    unlabelled = rows.filter(~F.coalesce(_labelled(), F.lit(False))).dropDuplicates(["image_id"])
    frame = unlabelled.select("image_id", _input_column(features).alias(VECTOR)).join(trusted, "image_id")
    return trust, _label_index(frame, labels).select("image_id", "label", VECTOR, "y", "w")


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
    curated: _Rows,
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
    return _logistic(chosen.reg_param).fit(_compact(frame, frame.count()))


@dataclass(frozen=True)
class _Validation:
    """The curated validation images: the classifier's inputs and what the gate needs."""

    image_ids: np.ndarray
    x: np.ndarray
    truth: np.ndarray  # label indices
    gate_set: gate.ValidationSet


def _validation(valid_rows: Any, labels: list[str], features: str, first: Any) -> _Validation:
    from pyspark.sql import functions as F

    data = (
        valid_rows.filter(F.col("label").isin(labels))
        .select("image_id", "label", "features", "pca", "pca_version")
        .toPandas()
    )
    if len(data) == 0:
        raise ClassifierError("no validation rows: check the split (--validation-from-path / percent)")
    raw = np.stack(data["features"].to_numpy()).astype(np.float32)
    pca = [None if p is None else np.asarray(p, dtype=np.float32) for p in data["pca"]]
    index = {label: i for i, label in enumerate(labels)}
    return _Validation(
        image_ids=np.asarray(data["image_id"]),
        x=raw if features == RAW else np.stack(pca),
        truth=np.asarray([index[label] for label in data["label"]]),
        gate_set=gate.ValidationSet(
            raw, pca, list(data["pca_version"]), np.asarray(data["label"]), first["model_version"]
        ),
    )


def _spark_probabilities(model: Any, valid_rows: Any, labels: list[str], features: str) -> dict | None:
    """pyspark.ml's own validation probabilities by image id (to check the NumPy heads against)."""
    if model is None:
        return None
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    frame = valid_rows.filter(F.col("label").isin(labels)).withColumn(VECTOR, _input_column(features))
    out = model.transform(frame).select("image_id", vector_to_array("probability").alias("p")).toPandas()
    return dict(zip(out["image_id"], out["p"], strict=True))


def _chosen_classifier(
    selection: Selection,
    fitted: Any,
    prototypes: _Rows | None,
    valid: _Validation,
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


def _metrics(valid: _Validation, probabilities: np.ndarray, labels: list[str], baseline: np.ndarray) -> dict:
    """Validation metrics of the classifier, and of the 1-NN baseline's predictions ``baseline``."""
    truth = valid.truth
    cm = confusion_matrix(truth, probabilities.argmax(axis=1), len(labels))
    recall = per_class_recall(cm)
    return {
        "validation_images": len(truth),
        "top1_accuracy": top_k_accuracy(probabilities, truth, 1),
        "top3_accuracy": top_k_accuracy(probabilities, truth, 3),
        "macro_f1": macro_f1(cm),
        "per_class_recall": {
            label: None if np.isnan(r) else float(r) for label, r in zip(labels, recall, strict=True)
        },
        "confusion_matrix": cm.tolist(),
        "nearest_neighbour_top1_accuracy": float(np.mean(baseline == np.asarray(labels)[truth])),
    }


def _numpy_agreement(valid: _Validation, spark_probabilities: dict, model: Any) -> float:
    """Largest difference between pyspark.ml's validation probabilities and the NumPy heads' ones."""
    weights, intercepts = _coefficients(model)
    ours = softmax_probabilities(valid.x, weights, intercepts)
    theirs = np.stack([spark_probabilities[i] for i in valid.image_ids])
    return float(np.max(np.abs(ours - theirs)))


def confusion_png(version: str, labels: list[str], metrics: dict[str, Any]) -> bytes:
    """The validation confusion matrix as a PNG (rows: truth, columns: prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(metrics["confusion_matrix"])
    size = max(5.0, 0.28 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Greens")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{version}: top-1 {metrics['top1_accuracy']:.3f} on {metrics['validation_images']} images")
    for (i, j), n in np.ndenumerate(cm):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
