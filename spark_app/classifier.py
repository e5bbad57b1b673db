"""The classification engine: train on the labelled rows of the store, predict the fruit of each image.

Training (``python -m spark_app classifier train``) uses pyspark.ml's multinomial logistic regression
on the raw 1280-d features (or on the promoted PCA projection, ``--features pca``: compared in
docs/classifier.md). Train and validation rows are split deterministically by ``image_id`` hash, or by
path (``--train-from-path Training --validation-from-path Test`` for Fruits-360's own split). It
reports top-1/top-3 accuracy, macro-F1, per-class recall, a 1-nearest-neighbour baseline on the same
features and a confusion-matrix PNG, and saves a version (``<dir>/<version>/model`` + ``metrics.json``,
written last) that is promoted like a PCA basis (:mod:`spark_app.registry`).

Prediction adds ``predicted_label``, ``confidence``, ``top3_labels``, ``top3_confidences`` and
``classifier_version`` to a batch's rows; below the confidence threshold the answer is ``unknown``.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd  # at module level: the pandas UDF's type hints are resolved here

from spark_app import hadoop_fs, schema, storage
from spark_app.classifier_math import (
    confusion_matrix,
    macro_f1,
    nearest_neighbour_predictions,
    per_class_recall,
    softmax_probabilities,
    top3_answer,
    top_k_accuracy,
)
from spark_app.model_arrays import load_arrays, save_arrays
from spark_app.pca import LATEST
from spark_app.registry import promoted_version

RAW, PCA = "raw", "pca"
FEATURE_KINDS = (RAW, PCA)
METRICS_FILE = "metrics.json"
MODEL_SUBDIR = "model"
CONFUSION_PNG = "confusion_matrix.png"
DEFAULT_MIN_PER_CLASS = 5
DEFAULT_VALIDATION_PERCENT = 20
DEFAULT_CONFIDENCE_THRESHOLD = 0.5
VECTOR = "classifier_input"
#: Columns prediction adds to a batch's rows (null when no classifier is promoted).
PREDICTION_SCHEMA = schema.PREDICTION


class ClassifierError(ValueError):
    """A classifier that cannot be trained or loaded (the message says why)."""


@dataclass
class TrainedClassifier:
    """A trained, saved (not promoted) classifier and its validation metrics."""

    version: str
    uri: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class LoadedClassifier:
    """A classifier ready to predict."""

    model: Any  # pyspark.ml.classification.LogisticRegressionModel (None when loaded without Spark)
    labels: list[str]
    features: str  # RAW or PCA
    version: str
    pca_version: str | None
    #: (classes, inputs) and (classes,) when loaded without Spark (``load_classifier_arrays``).
    loaded_weights: np.ndarray | None = None
    loaded_intercepts: np.ndarray | None = None
    #: The CNN the training features came from (``model_version`` of their rows).
    model_version: str | None = None

    @property
    def weights(self) -> np.ndarray:
        """Coefficients, one row per class (``coefficientMatrix``)."""
        if self.loaded_weights is not None:
            return self.loaded_weights
        return np.asarray(self.model.coefficientMatrix.toArray())

    @property
    def intercepts(self) -> np.ndarray:
        """One intercept per class (``interceptVector``)."""
        if self.loaded_intercepts is not None:
            return self.loaded_intercepts
        return np.asarray(self.model.interceptVector.toArray())


def _input_column(features: str) -> Any:
    from pyspark.ml.functions import array_to_vector

    return array_to_vector("features" if features == RAW else "pca")


def labelled_rows(spark: Any, features_dir: str, features: str) -> Any:
    """Distinct labelled images of the newest CNN model (and, for PCA, the promoted basis only)."""
    from pyspark.sql import functions as F

    rows = spark.read.parquet(features_dir).filter(F.col("label").isNotNull() & (F.col("label") != ""))
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
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    train_path: str | None = None,
    validation_path: str | None = None,
    validation_percent: int = DEFAULT_VALIDATION_PERCENT,
    reg_param: float = 1e-3,
) -> TrainedClassifier:
    """Train, validate and save a new classifier version (not promoted)."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    if features not in FEATURE_KINDS:
        raise ClassifierError(f"unknown features {features!r}; choose one of {', '.join(FEATURE_KINDS)}")
    with hadoop_fs.readable(spark, storage.join_uri(store, "features")) as features_dir:
        rows = labelled_rows(spark, features_dir, features)
        train_rows, valid_rows = split(
            rows, train_path=train_path, validation_path=validation_path, percent=validation_percent
        )
        counts = {r["label"]: r["count"] for r in train_rows.groupBy("label").count().collect()}
        small = {label: n for label, n in counts.items() if n < min_per_class}
        if small:
            listed = ", ".join(f"{label} ({n})" for label, n in sorted(small.items()))
            raise ClassifierError(
                f"classes with fewer than {min_per_class} training images: {listed}; add images of them "
                "or lower --min-per-class"
            )
        if len(counts) < 2:
            raise ClassifierError(f"{len(counts)} labelled class(es) in the store: at least 2 are needed")
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
        train_set = prepared.select(
            "label", vector_to_array(VECTOR).alias("x")
        ).toPandas()  # one collect: aligned
        train_x, train_y = np.stack(train_set["x"].to_numpy()), np.asarray(train_set["label"])
        pca_version = rows.select("pca_version").first()[0] if features == PCA else None
        model_version = rows.select("model_version").first()[0]
    metrics = _metrics(valid, labels, train_x, train_y)
    version = f"clf-{features}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    metrics.update(
        version=version,
        features=features,
        labels=labels,
        pca_version=pca_version,
        model_version=model_version,
        train_images=int(sum(counts.values())),
        train_seconds=round(train_seconds, 3),
        split={"train_path": train_path, "validation_path": validation_path, "percent": validation_percent},
    )
    uri = storage.join_uri(classifier_dir, version)
    hadoop_fs.write_via(
        spark, storage.join_uri(uri, MODEL_SUBDIR), lambda target: model.write().overwrite().save(target)
    )
    storage.write_bytes(storage.join_uri(uri, CONFUSION_PNG), confusion_png(metrics))
    save_arrays(uri, weights=model.coefficientMatrix.toArray(), intercepts=model.interceptVector.toArray())
    storage.write_text(storage.join_uri(uri, METRICS_FILE), json.dumps(metrics, indent=2))  # last: complete
    return TrainedClassifier(version, uri, metrics)


def _metrics(valid: Any, labels: list[str], train_x: np.ndarray, train_y: np.ndarray) -> dict[str, Any]:
    """Validation metrics of the classifier and of the 1-NN baseline on the same features."""
    if len(valid) == 0:
        raise ClassifierError("no validation rows: check the split (--validation-from-path / percent)")
    index = {label: i for i, label in enumerate(labels)}
    truth = np.asarray([index[label] for label in valid["label"]])
    probabilities = np.stack(valid["p"].to_numpy())
    predicted = probabilities.argmax(axis=1)
    cm = confusion_matrix(truth, predicted, len(labels))
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


def confusion_png(metrics: dict[str, Any]) -> bytes:
    """The validation confusion matrix as a PNG (rows: truth, columns: prediction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm, labels = np.asarray(metrics["confusion_matrix"]), metrics["labels"]
    size = max(5.0, 0.28 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Greens")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        f"{metrics['version']}: top-1 {metrics['top1_accuracy']:.3f} on {metrics['validation_images']} images"
    )
    for (i, j), n in np.ndenumerate(cm):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def resolve_classifier(reference: str, classifier_dir: str | None) -> str | None:
    """URI of a classifier version; ``latest`` = the promoted one (None when nothing is promoted)."""
    if reference != LATEST:
        return reference
    if not classifier_dir:
        raise ClassifierError("--classifier latest needs --classifier-dir")
    version = promoted_version(classifier_dir)
    return storage.join_uri(classifier_dir, version) if version else None


def load_classifier(uri: str) -> LoadedClassifier:
    """Load a saved version to predict."""
    from pyspark.ml.classification import LogisticRegressionModel
    from pyspark.sql import SparkSession

    try:
        metrics = json.loads(storage.read_text(storage.join_uri(uri, METRICS_FILE)))
        model = hadoop_fs.read_via(
            SparkSession.getActiveSession(), storage.join_uri(uri, MODEL_SUBDIR), LogisticRegressionModel.load
        )
    except Exception as exc:
        raise ClassifierError(f"cannot load classifier {uri}: {str(exc).splitlines()[0]}") from None
    return _loaded(metrics, model)


def load_classifier_arrays(uri: str) -> LoadedClassifier:
    """A saved version's coefficients for the extraction pass, without Spark (one read); the Spark
    model for a version saved before the arrays were."""
    try:
        metrics = json.loads(storage.read_text(storage.join_uri(uri, METRICS_FILE)))
        arrays = load_arrays(uri)
    except (storage.StorageError, ValueError, OSError) as exc:
        raise ClassifierError(f"cannot load classifier {uri}: {str(exc).splitlines()[0]}") from None
    if arrays is None or not {"weights", "intercepts"} <= arrays.keys():
        return load_classifier(uri)
    return _loaded(metrics, None, arrays)


def _loaded(metrics: dict, model: Any, arrays: dict[str, np.ndarray] | None = None) -> LoadedClassifier:
    """A saved version (its ``metrics.json``) with its Spark model or its arrays."""
    return LoadedClassifier(
        model,
        metrics["labels"],
        metrics["features"],
        metrics["version"],
        metrics["pca_version"],
        loaded_weights=arrays["weights"] if arrays else None,
        loaded_intercepts=arrays["intercepts"] if arrays else None,
        model_version=metrics.get("model_version"),
    )


def predict(frame: Any, classifier: LoadedClassifier, threshold: float) -> Any:
    """``frame`` with the prediction columns (rows without the needed features get nulls).

    The model's coefficients (classes x features, a few hundred KB) travel with the function and the
    whole prediction is one NumPy pass per Arrow batch: ``softmax(x · Wᵀ + b)`` and the top 3, the same
    probabilities as ``LogisticRegressionModel.transform`` without its vector conversions and JVM pass.
    """
    from pyspark.sql import functions as F

    labels = classifier.labels
    weights = classifier.weights.astype(np.float32)
    intercepts = classifier.intercepts.astype(np.float32)
    names = [name for name, _ in PREDICTION_SCHEMA[:-1]]
    struct = ", ".join(f"{name} {kind}" for name, kind in PREDICTION_SCHEMA[:-1])

    @F.pandas_udf(struct)
    def answer(values: pd.Series) -> pd.DataFrame:
        present = values.notna().to_numpy()
        rows: list[tuple | None] = [None] * len(values)
        if present.any():
            x = np.stack(values[present].to_numpy())
            probabilities = softmax_probabilities(x, weights, intercepts)
            for i, p in zip(np.flatnonzero(present), probabilities, strict=True):
                rows[i] = top3_answer(p, labels, threshold)
        return pd.DataFrame([r or (None, None, None, None) for r in rows], columns=names)

    source = "features" if classifier.features == RAW else "pca"
    scored = frame.withColumn("_answer", answer(F.col(source)))
    columns = [F.col(f"_answer.{name}").alias(name) for name in names]
    return scored.select(*frame.columns, *columns, F.lit(classifier.version).alias("classifier_version"))
