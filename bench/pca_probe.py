"""Profile of the PCA fit: where pyspark.ml PCA spends its time, and a cheaper equivalent.

On ``n`` x 1280 float vectors (random, or the features Parquet of a run), times:
``PCA(k=1280).fit`` (what the pipeline does), ``PCA(k=100).fit`` (the reference), the
distributed covariance alone (``RowMatrix.computeCovariance``), and NumPy ``eigh`` of that
covariance on the driver. pyspark.ml PCA decomposes the full 1280 x 1280 covariance on the
driver whatever k is; without native LAPACK that is the slow part.

``python -m bench.pca_probe --rows 10000 --result OUT.json [--features PARQUET_DIR]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DIM = 1280


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def measure(rows: int, features: Path | None) -> dict[str, object]:
    """Times of the PCA variants on the same cached DataFrame."""
    from pyspark.ml.feature import PCA
    from pyspark.ml.functions import array_to_vector
    from pyspark.mllib.linalg.distributed import RowMatrix
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[*]")
        .appName("bench-pca-probe")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        if features is not None:
            frame = spark.read.parquet(str(features)).select("features")
        else:
            rng = np.random.default_rng(0)
            data = np.abs(rng.normal(size=(rows, DIM))).astype(np.float32)
            frame = spark.createDataFrame([(row.tolist(),) for row in data], "features array<float>")
        vectors = frame.select(array_to_vector("features").alias("v")).cache()
        n = vectors.count()
        _, full = _timed(lambda: PCA(k=DIM, inputCol="v", outputCol="p").fit(vectors))
        _, k100 = _timed(lambda: PCA(k=100, inputCol="v", outputCol="p").fit(vectors))
        matrix = RowMatrix(vectors.rdd.map(lambda r: r.v.toArray()))
        cov, covariance = _timed(lambda: matrix.computeCovariance().toArray())
        _, eigh = _timed(lambda: np.linalg.eigh(cov))
    finally:
        spark.stop()
    return {
        "rows": n,
        "dim": DIM,
        "source": str(features) if features else "random",
        "pyspark_pca_fit_k1280_seconds": full,
        "pyspark_pca_fit_k100_seconds": k100,
        "distributed_covariance_seconds": covariance,
        "numpy_eigh_seconds": eigh,
        "covariance_plus_eigh_seconds": round(covariance + eigh, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=Path, default=None, help="Parquet with a 'features' column")
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    result = measure(args.rows, args.features)
    args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
