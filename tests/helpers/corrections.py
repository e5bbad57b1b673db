"""People's uploads and corrections without a phone: noisy copies of curated features, written as a batch,
and the corrections an identity sends about them (the poisoning test and ``bench.classifier_selection``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spark_app.core import schema
from spark_app.core.corrections import new_correction
from spark_app.store.corrections import write_correction
from spark_app.store.partitions import replace_partition


def write_uploads(
    spark: Any, store: Path, source: pd.DataFrame, identity: str, count: int, seed: int
) -> pd.DataFrame:
    """``count`` unlabelled uploads of ``identity`` as one batch of ``store``: noisy copies (5 %) of rows
    of ``source`` (curated feature rows), as photos of the same fruits would be (no CNN run: the features
    are what training sees). Returns them, with the label of the row each copies as ``truth``."""
    from pyspark.sql import functions as F

    rng = np.random.default_rng(seed)
    picked = source.iloc[rng.integers(0, len(source), count)].reset_index(drop=True)
    features = [
        np.maximum(f * (1 + 0.05 * rng.standard_normal(len(f))), 0).astype(np.float32)
        for f in picked["features"]
    ]
    rows = picked.assign(
        features=features,
        image_id=[hashlib.sha256(f"{identity}-{seed}-{n}".encode()).hexdigest() for n in range(count)],
        path=[f"s3://ingest/uploads/{identity}/{seed}-{n}.jpg" for n in range(count)],
        label=None,
        pca=None,
        pca_version=None,
    )
    frame = spark.createDataFrame(rows[schema.names(schema.FEATURES)], schema.ddl(schema.FEATURES))
    batch = f"uploads-{seed}"
    replace_partition(spark, frame.withColumn("batch_id", F.lit(batch)), str(store / "features"), batch)
    return rows.assign(truth=picked["label"])


def correct_all(store: Path, identity: str, uploads: pd.DataFrame, labels: list[str], *, wrong: bool) -> int:
    """``identity`` corrects each of its ``uploads``: to the true class, or (``wrong``) to the next one."""
    ordered = sorted(labels)
    for n, (image_id, truth) in enumerate(zip(uploads["image_id"], uploads["truth"], strict=True)):
        label = ordered[(ordered.index(truth) + 1) % len(ordered)] if wrong else truth
        write_correction(
            str(store), new_correction(identity, f"p{n}", image_id, label, known_classes=ordered)
        )
    return len(uploads)
