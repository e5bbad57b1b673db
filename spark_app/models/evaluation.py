"""How a trained classifier is judged: the curated validation set, its metrics beside the 1-NN baseline,
the agreement of the NumPy heads with pyspark.ml, and the confusion-matrix picture."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from spark_app.core.heads import RAW, softmax_probabilities
from spark_app.core.metrics import confusion_matrix, macro_f1, per_class_recall, top_k_accuracy
from spark_app.models import gate
from spark_app.models.training_rows import VECTOR, ClassifierError, input_column


@dataclass(frozen=True)
class Validation:
    """The curated validation images: the classifier's inputs and what the gate needs."""

    image_ids: np.ndarray
    x: np.ndarray
    truth: np.ndarray  # label indices
    gate_set: gate.ValidationSet


def validation_set(valid_rows: Any, labels: list[str], features: str, first: Any) -> Validation:
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
    return Validation(
        image_ids=np.asarray(data["image_id"]),
        x=raw if features == RAW else np.stack(pca),
        truth=np.asarray([index[label] for label in data["label"]]),
        gate_set=gate.ValidationSet(
            raw, pca, list(data["pca_version"]), np.asarray(data["label"]), first["model_version"]
        ),
    )


def spark_probabilities(model: Any, valid_rows: Any, labels: list[str], features: str) -> dict | None:
    """pyspark.ml's own validation probabilities by image id (to check the NumPy heads against)."""
    if model is None:
        return None
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    frame = valid_rows.filter(F.col("label").isin(labels)).withColumn(VECTOR, input_column(features))
    out = model.transform(frame).select("image_id", vector_to_array("probability").alias("p")).toPandas()
    return dict(zip(out["image_id"], out["p"], strict=True))


def validation_metrics(
    valid: Validation, probabilities: np.ndarray, labels: list[str], baseline: np.ndarray
) -> dict:
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


def numpy_agreement(
    valid: Validation, spark_probabilities: dict, weights: np.ndarray, intercepts: np.ndarray
) -> float:
    """Largest difference between pyspark.ml's validation probabilities and the NumPy heads' ones."""
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
