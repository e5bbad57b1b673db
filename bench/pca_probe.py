"""Profile of the PCA fit: where pyspark.ml PCA spends its time, and a cheaper equivalent.

On ``n`` x 1280 float vectors (random, or the features Parquet of a run), times:
``PCA(k=1280).fit`` (the ``spark`` solver of ``pca fit``), ``PCA(k=100).fit`` (the reference), the
same fit on 300 rows (its fixed cost), the pipeline's own ``native`` solver
(``spark_app.models.pca.fit_spectrum``: distributed X^T X + LAPACK ``eigh``, what ``fit_over_store``
runs), NumPy covariance + ``eigh`` of the same data on the driver, and the transform + Parquet write.
pyspark.ml PCA decomposes the full 1280 x 1280 covariance on the driver whatever k is; without native
LAPACK (netlib falls back to pure Java) that is slow.

``python -m bench.pca_probe --rows 10000 --result OUT.json [--features PARQUET_DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 1280
FEW_ROWS = 300  # a fit on few rows is almost only the fixed cost (the 1280 x 1280 decomposition)


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 3)


def measure(rows: int, features: Path | None, vector_api: bool = False) -> dict[str, object]:
    """Times of the PCA variants on the same cached DataFrame."""
    from pyspark.ml.feature import PCA
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import SparkSession

    from spark_app.models.pca import NATIVE, fit_spectrum

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the native fit runs NumPy in Python workers
    builder = (
        SparkSession.builder.master("local[*]")
        .appName("bench-pca-probe")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
    )
    if vector_api:  # lets netlib use its Java Vector API BLAS instead of the plain-Java fallback
        builder = builder.config("spark.driver.extraJavaOptions", "--add-modules=jdk.incubator.vector")
    spark = builder.getOrCreate()
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
        arrays = frame.select("features").cache()
        arrays.count()
        _, native_fit = _timed(lambda: fit_spectrum(arrays, solver=NATIVE))
        full_model, full = _timed(lambda: PCA(k=DIM, inputCol="v", outputCol="p").fit(vectors))
        k100_model, k100 = _timed(lambda: PCA(k=100, inputCol="v", outputCol="p").fit(vectors))
        with tempfile.TemporaryDirectory() as tmp:
            _, write_k100 = _timed(
                lambda: k100_model.transform(vectors).select("p").write.parquet(tmp + "/a")
            )
            _, write_full = _timed(
                lambda: full_model.transform(vectors).select("p").write.parquet(tmp + "/b")
            )
            _, write_plain = _timed(lambda: vectors.select("v").write.parquet(tmp + "/c"))
        few = vectors.limit(FEW_ROWS).cache()
        few.count()
        _, few_fit = _timed(lambda: PCA(k=DIM, inputCol="v", outputCol="p").fit(few))
        local = np.stack([r.v.toArray() for r in vectors.collect()])
        cov, covariance = _timed(lambda: np.cov(local, rowvar=False))
        (_, eigenvectors), eigh = _timed(lambda: np.linalg.eigh(cov))
        top = eigenvectors[:, ::-1][:, :300].astype(np.float32)
        _, numpy_project = _timed(lambda: local.astype(np.float32) @ top)
    finally:
        spark.stop()
    return {
        "rows": n,
        "dim": DIM,
        "source": str(features) if features else "random",
        "java_vector_api": vector_api,
        "pyspark_pca_fit_k1280_seconds": full,
        "pyspark_pca_fit_k100_seconds": k100,
        f"pyspark_pca_fit_k1280_on_{FEW_ROWS}_rows_seconds": few_fit,
        "pipeline_native_fit_seconds": native_fit,
        "numpy_covariance_seconds": covariance,
        "numpy_eigh_seconds": eigh,
        "numpy_covariance_plus_eigh_seconds": round(covariance + eigh, 3),
        "transform_write_k100_seconds": write_k100,
        "transform_write_k1280_seconds": write_full,
        "write_vectors_without_pca_seconds": write_plain,
        "numpy_projection_k300_seconds": numpy_project,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=Path, default=None, help="Parquet with a 'features' column")
    parser.add_argument("--java-vector-api", action="store_true", help="JVM flag for netlib's VectorBLAS")
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    result = measure(args.rows, args.features, args.java_vector_api)
    args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
