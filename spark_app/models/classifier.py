"""The classification engine: train on the labelled rows of the store, save a version in the registry.

Training uses pyspark.ml's multinomial logistic regression on the raw 1280-d features (or on the
promoted PCA projection, ``--features pca``: compared in docs/classifier.md). Train and validation rows
are split deterministically by ``image_id`` hash, or by path (``--train-from-path Training
--validation-from-path Test`` for Fruits-360's own split). It reports top-1/top-3 accuracy, macro-F1,
per-class recall, a 1-nearest-neighbour baseline on the same features and a confusion-matrix PNG, and
saves a version (its coefficients as arrays, its metrics as metadata) that is promoted like a PCA basis
(:mod:`spark_app.models.registry`). Batches and the answer Lambda predict with those arrays in NumPy
(``core/heads.py``); training checks that they reproduce pyspark.ml's own probabilities.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from spark_app.core.defaults import FEATURES_DIR, MIN_PER_CLASS, VALIDATION_PERCENT
from spark_app.core.heads import FEATURE_KINDS, PCA, RAW, softmax_probabilities
from spark_app.core.metrics import (
    confusion_matrix,
    macro_f1,
    nearest_neighbour_predictions,
    per_class_recall,
    top_k_accuracy,
)
from spark_app.core.uris import join_uri
from spark_app.models import registry
from spark_app.store import spark_fs
from spark_app.store.partitions import read_dataset

CONFUSION_PNG = "confusion_matrix.png"
VECTOR = "classifier_input"


class ClassifierError(registry.RegistryError):
    """A classifier that cannot be trained (the message says why)."""


@dataclass
class TrainedClassifier:
    """A trained, saved (not promoted) classifier and its validation metrics."""

    version: str
    uri: str
    metrics: dict[str, Any]


def _input_column(features: str) -> Any:
    from pyspark.ml.functions import array_to_vector

    return array_to_vector("features" if features == RAW else "pca")


def labelled_rows(rows: Any, features: str) -> Any:
    """Distinct labelled images of the newest CNN model (and, for PCA, the promoted basis only)."""
    from pyspark.sql import functions as F

    rows = rows.filter(F.col("label").isNotNull() & (F.col("label") != ""))
    newest = (
        rows.groupBy("model_version").agg(F.max("processed_at").alias("at")).orderBy(F.desc("at")).first()
    )
    if newest is None:
        raise ClassifierError("no labelled rows in the feature store: nothing to train on")
    rows = rows.filter(F.col("model_version") == newest["model_version"])
    if features == PCA:
        rows = rows.filter(F.col("pca").isNotNull())
        versions = [r[0] for r in rows.select("pca_version").distinct().collect()]
        if len(versions) != 1:
            raise ClassifierError(
                f"PCA features of {len(versions)} bases: back-fill the store onto one first"
            )
    return rows.dropDuplicates(["image_id"])


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
    reg_param: float = 1e-3,
) -> TrainedClassifier:
    """Train, validate and save a new classifier version (not promoted)."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    if features not in FEATURE_KINDS:
        raise ClassifierError(f"unknown features {features!r}; choose one of {', '.join(FEATURE_KINDS)}")
    with spark_fs.readable(spark, join_uri(store, FEATURES_DIR)) as features_dir:
        stored = read_dataset(spark, features_dir)
        if stored is None:
            raise ClassifierError(f"no features in {store}: nothing to train on")
        rows = labelled_rows(stored, features)
        train_rows, valid_rows = split(
            rows, train_path=train_path, validation_path=validation_path, percent=validation_percent
        )
        counts = {r["label"]: r["count"] for r in train_rows.groupBy("label").count().collect()}
        _check_classes(counts, min_per_class)
        labels = sorted(counts)
        index = F.create_map(*[x for i, label in enumerate(labels) for x in (F.lit(label), F.lit(float(i)))])
        prepared = train_rows.withColumn(VECTOR, _input_column(features)).withColumn(
            "y", index[F.col("label")]
        )
        started = time.perf_counter()
        model = LogisticRegression(
            featuresCol=VECTOR, labelCol="y", family="multinomial", regParam=reg_param, maxIter=200
        ).fit(prepared)
        train_seconds = time.perf_counter() - started
        valid = (
            model.transform(
                valid_rows.filter(F.col("label").isin(labels)).withColumn(VECTOR, _input_column(features))
            )
            .select("label", vector_to_array("probability").alias("p"), vector_to_array(VECTOR).alias("x"))
            .toPandas()
        )
        train_set = prepared.select("label", vector_to_array(VECTOR).alias("x")).toPandas()  # one collect
        first = rows.select("pca_version", "model_version").first()
    weights, intercepts = model.coefficientMatrix.toArray(), model.interceptVector.toArray()
    train_x, train_y = np.stack(train_set["x"].to_numpy()), np.asarray(train_set["label"])
    metrics = _metrics(valid, labels, train_x, train_y)
    metrics["numpy_max_abs_difference"] = _numpy_agreement(valid, weights, intercepts)
    fitted_at = datetime.now(UTC)
    version = registry.Version(
        name=registry.new_version_name(registry.CLASSIFIER_KIND, features, fitted_at),
        kind=registry.CLASSIFIER_KIND,
        fitted_at=registry.now_iso(),
        model_version=first["model_version"],
        info={
            "features": features,
            "labels": labels,
            "pca_version": first["pca_version"] if features == PCA else None,
            "train_images": int(sum(counts.values())),
            "train_seconds": round(train_seconds, 3),
            "reg_param": reg_param,
            "split": {
                "train_path": train_path,
                "validation_path": validation_path,
                "percent": validation_percent,
            },
            "metrics": metrics,
        },
    )
    uri = registry.save_version(
        classifier_dir,
        version,
        {"weights": weights, "intercepts": intercepts},
        {CONFUSION_PNG: confusion_png(version.name, labels, metrics)},
    )
    return TrainedClassifier(version.name, uri, {"version": version.name, **version.info, **metrics})


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


def _metrics(valid: Any, labels: list[str], train_x: np.ndarray, train_y: np.ndarray) -> dict[str, Any]:
    """Validation metrics of the classifier and of the 1-NN baseline on the same features."""
    if len(valid) == 0:
        raise ClassifierError("no validation rows: check the split (--validation-from-path / percent)")
    index = {label: i for i, label in enumerate(labels)}
    truth = np.asarray([index[label] for label in valid["label"]])
    probabilities = np.stack(valid["p"].to_numpy())
    cm = confusion_matrix(truth, probabilities.argmax(axis=1), len(labels))
    nn = nearest_neighbour_predictions(train_x, train_y, np.stack(valid["x"].to_numpy()))
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
        "nearest_neighbour_top1_accuracy": float(np.mean(nn == np.asarray(valid["label"]))),
    }


def _numpy_agreement(valid: Any, weights: np.ndarray, intercepts: np.ndarray) -> float:
    """Largest difference between pyspark.ml's validation probabilities and the NumPy heads' ones."""
    ours = softmax_probabilities(np.stack(valid["x"].to_numpy()), weights, intercepts)
    return float(np.max(np.abs(ours - np.stack(valid["p"].to_numpy()))))


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
