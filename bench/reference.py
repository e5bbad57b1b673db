"""Measurement 3: a faithful re-implementation of the reference (course notebook) pipeline.

``binaryFile`` (``*.jpg``, recursive) -> label = parent folder -> the driver builds Keras
MobileNetV2 (pinned weights, no top, average pooling = the notebook's cut at ``layers[-2]``)
and broadcasts ``model.get_weights()`` -> a ``SCALAR_ITER`` pandas UDF that rebuilds the model
once per task, ``Image.open(...).resize([224, 224])`` -> ``img_to_array`` -> ``preprocess_input``
-> ``model.predict`` (batch 32) -> ``repartition(20)``, ``maxRecordsPerBatch`` 1024 -> Parquet;
then ``array_to_vector`` + ``pyspark.ml`` PCA with a fixed k, transform, Parquet.

Imports TensorFlow: never run it in a process that uses LiteRT.

``python -m bench.reference --input DIR --output DIR --result OUT.json``
``python -m bench.reference --stages N --input DIR --result OUT.json`` (per-stage timings, no Spark)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from spark_app.models.weights import DEFAULT_WEIGHTS

REPARTITION = 20
MAX_RECORDS_PER_BATCH = 1024
PCA_K = 100


def driver_model(weights_path: str = DEFAULT_WEIGHTS):
    """The notebook's driver-side model (built from the pinned weights; no download)."""
    from keras.applications.mobilenet_v2 import MobileNetV2

    model = MobileNetV2(weights=None, include_top=False, pooling="avg", input_shape=(224, 224, 3))
    model.load_weights(weights_path)
    return model


def ref_preprocess(content: bytes) -> np.ndarray:
    """The notebook's per-image preprocessing (full decode, default resampling, no EXIF)."""
    from keras.applications.mobilenet_v2 import preprocess_input
    from keras.utils import img_to_array

    img = Image.open(io.BytesIO(content)).resize([224, 224])
    arr = img_to_array(img)
    return preprocess_input(arr)


def build_spark(master: str):
    """The notebook's session, plus local memory/UI settings equal to ours."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master(master)
        .appName("bench-reference")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(MAX_RECORDS_PER_BATCH))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_reference(spark, input_dir: Path, output_dir: Path, pca_k: int) -> dict[str, float | int]:
    """The reference job; returns its timings."""
    from keras.applications.mobilenet_v2 import MobileNetV2
    from pyspark.ml.feature import PCA
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql.functions import PandasUDFType, col, element_at, pandas_udf, split

    started = time.perf_counter()
    sc = spark.sparkContext
    images = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.jpg")
        .option("recursiveFileLookup", "true")
        .load(str(input_dir.resolve()))
    )
    images = images.withColumn("label", element_at(split(images["path"], "/"), -2))

    model = driver_model()
    bc_model_weights = sc.broadcast(model.get_weights())

    def model_fn():
        new_model = MobileNetV2(weights=None, include_top=False, pooling="avg", input_shape=(224, 224, 3))
        new_model.set_weights(bc_model_weights.value)
        return new_model

    def featurize_series(model, content_series):
        batch = np.stack(content_series.map(ref_preprocess))
        preds = model.predict(batch, batch_size=32, verbose=0)
        output = [p.flatten() for p in preds]
        return pd.Series(output)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PandasUDFType is deprecated in Spark 3.5, as in the notebook

        @pandas_udf("array<float>", PandasUDFType.SCALAR_ITER)
        def featurize_udf(content_series_iter):
            model = model_fn()
            for content_series in content_series_iter:
                yield featurize_series(model, content_series)

    features_path = str((output_dir / "features").resolve())
    features_df = images.repartition(REPARTITION).select(
        col("path"), col("label"), featurize_udf("content").alias("features")
    )
    features_df.write.mode("overwrite").parquet(features_path)
    features_done = time.perf_counter()

    vectors = spark.read.parquet(features_path).withColumn("features_vec", array_to_vector("features"))
    pca_model = PCA(k=pca_k, inputCol="features_vec", outputCol="pca_vec").fit(vectors)
    fit_done = time.perf_counter()
    pca_model.transform(vectors).select("path", "label", "pca_vec").write.mode("overwrite").parquet(
        str((output_dir / "pca").resolve())
    )
    done = time.perf_counter()
    rows = spark.read.parquet(features_path).count()
    return {
        "images": rows,
        "seconds": round(done - started, 3),
        "features_seconds": round(features_done - started, 3),
        "pca_fit_seconds": round(fit_done - features_done, 3),
        "pca_transform_write_seconds": round(done - fit_done, 3),
        "images_per_second": round(rows / (done - started), 2),
        "features_images_per_second": round(rows / (features_done - started), 2),
        "pca_share_of_total": round((fit_done - features_done) / (done - started), 4),
        "pca_k": pca_k,
        "repartition": REPARTITION,
        "max_records_per_batch": MAX_RECORDS_PER_BATCH,
    }


def stages(input_dir: Path, n: int) -> dict[str, object]:
    """Single-process timings of the reference's per-image work (no Spark): decode+resize, predict."""
    files = sorted(p for p in input_dir.rglob("*.jpg"))[:n]
    model = driver_model()
    read_ms, prep_ms, tensors = [], [], []
    for path in files:
        t0 = time.perf_counter()
        data = path.read_bytes()
        t1 = time.perf_counter()
        tensors.append(ref_preprocess(data))
        t2 = time.perf_counter()
        read_ms.append((t1 - t0) * 1000)
        prep_ms.append((t2 - t1) * 1000)
    batch = np.stack(tensors)
    model.predict(batch[:32], batch_size=32, verbose=0)  # warm-up
    t0 = time.perf_counter()
    model.predict(batch, batch_size=32, verbose=0)
    predict_ms = (time.perf_counter() - t0) * 1000 / len(batch)
    t0 = time.perf_counter()
    rebuilt = driver_model()
    rebuild_s = time.perf_counter() - t0
    del rebuilt
    return {
        "images": len(files),
        "read_ms_median": round(statistics.median(read_ms), 3),
        "pil_decode_resize_preprocess_ms_median": round(statistics.median(prep_ms), 3),
        "pil_decode_resize_preprocess_ms_mean": round(statistics.fmean(prep_ms), 3),
        "keras_predict_ms_per_image": round(predict_ms, 3),
        "model_rebuild_seconds": round(rebuild_s, 3),
        "tf_intra_op_threads": "default (all cores)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--pca-k", type=int, default=PCA_K)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--stages", type=int, default=0, help="time N images' stages instead of the job")
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args()
    import keras  # noqa: F401  (TensorFlow import kept off the clock, like the Spark start-up)

    if args.stages:
        result = stages(args.input, args.stages)
    else:
        if args.output is None:
            parser.error("--output is required")
        if args.output.exists():
            shutil.rmtree(args.output)
        t0 = time.perf_counter()
        spark = build_spark(args.master)
        session_seconds = time.perf_counter() - t0
        try:
            result = run_reference(spark, args.input, args.output, args.pca_k)
        finally:
            spark.stop()
        result = {**result, "session_start_seconds": round(session_seconds, 3), "master": args.master}
    args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
