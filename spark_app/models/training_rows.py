"""The classifier's training rows: which stored rows count, the train/validation split, the Spark frames
the logistic regression takes, and people's trusted corrections joined to their features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from spark_app.core.corrections import Trust, trusted_labels
from spark_app.core.heads import PCA, RAW
from spark_app.models import registry
from spark_app.store.corrections import read_corrections

#: The logistic regression's input column.
VECTOR = "classifier_input"
#: Training rows per partition of the logistic regression's input, at least (see :func:`compact`).
ROWS_PER_PARTITION = 500

log = logging.getLogger("fruits")


class ClassifierError(registry.RegistryError):
    """A classifier that cannot be trained (the message says why)."""


@dataclass(frozen=True)
class CuratedRows:
    """Curated training rows collected to the driver (cross-validation scores them; 1-NN keeps them)."""

    image_ids: np.ndarray
    labels: np.ndarray
    x: np.ndarray  # the classifier's inputs


def input_column(features: str) -> Any:
    from pyspark.ml.functions import array_to_vector

    return array_to_vector("features" if features == RAW else "pca")


def labelled() -> Any:
    from pyspark.sql import functions as F

    return F.col("label").isNotNull() & (F.col("label") != "")


def model_rows(stored: Any, features: str) -> Any:
    """Every row (labelled or not) of the newest CNN model with labelled rows; for PCA features, only
    rows on the one basis of the labelled rows."""
    from pyspark.sql import functions as F

    newest = (
        stored.filter(labelled())
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
        versions = [r[0] for r in rows.filter(labelled()).select("pca_version").distinct().collect()]
        if len(versions) != 1:
            raise ClassifierError(
                f"PCA features of {len(versions)} bases: back-fill the store onto one first"
            )
        rows = rows.filter(F.col("pca_version") == versions[0])
    return rows


def labelled_rows(rows: Any, features: str) -> Any:
    """Distinct labelled (curated) images of the newest CNN model (and, for PCA, the promoted basis only)."""
    return model_rows(rows, features).filter(labelled()).dropDuplicates(["image_id"])


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


def check_classes(counts: dict[str, int], min_per_class: int) -> None:
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


def label_index(frame: Any, labels: list[str]) -> Any:
    """``frame`` with ``y``, the index of its label, declared nominal with ``len(labels)`` values (so a
    cross-validation fold without some class still gets one coefficient row per class)."""
    from pyspark.sql import functions as F

    index = F.create_map(*[x for i, label in enumerate(labels) for x in (F.lit(label), F.lit(float(i)))])
    return frame.withColumn("y", index[F.col("label")]).withMetadata(
        "y", {"ml_attr": {"type": "nominal", "num_vals": len(labels)}}
    )


def prepared_rows(train_rows: Any, features: str, labels: list[str]) -> Any:
    """Curated training rows as the logistic regression takes them: inputs, label index, weight 1."""
    from pyspark.sql import functions as F

    frame = train_rows.select("image_id", "label", input_column(features).alias(VECTOR))
    return label_index(frame, labels).withColumn("w", F.lit(1.0))


def compact(frame: Any, rows: int) -> Any:
    """``frame`` in as many partitions as cores, but no more than one per 500 rows: each L-BFGS
    iteration is one Spark job with a task per partition. Measured on 2 cores: 48 images fit in 2 s in one
    partition, 20 s in eight; 1,520 images in 18 s in one, 11 s in two, 10 s in four."""
    parallelism = frame.sparkSession.sparkContext.defaultParallelism
    return frame.coalesce(max(1, min(parallelism, rows // ROWS_PER_PARTITION)))


def collect_rows(frame: Any) -> CuratedRows:
    """The rows' ids, labels and inputs in the driver (one collect)."""
    from pyspark.ml.functions import vector_to_array

    data = frame.select("image_id", "label", vector_to_array(VECTOR).alias("x")).toPandas()
    return CuratedRows(
        np.asarray(data["image_id"]), np.asarray(data["label"]), np.stack(data["x"].to_numpy())
    )


def trusted_corrections(
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
            .agg(F.max(F.coalesce(labelled(), F.lit(False))).alias("curated"))
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
    unlabelled = rows.filter(~F.coalesce(labelled(), F.lit(False))).dropDuplicates(["image_id"])
    frame = unlabelled.select("image_id", input_column(features).alias(VECTOR)).join(trusted, "image_id")
    return trust, label_index(frame, labels).select("image_id", "label", VECTOR, "y", "w")
