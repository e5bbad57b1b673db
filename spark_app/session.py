"""The Spark session: ``local[*]`` unless spark-submit (or EMR Serverless) chose a master."""

from __future__ import annotations

import os
import sys

DEFAULT_LOCAL_MASTER = "local[*]"


def build_session(app_name: str, *, master: str | None, arrow_batch_rows: int, local_memory: str = "4g"):
    """Create (or reuse) the session with the settings the pipeline relies on."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    conf = SparkConf()
    chosen = master or (None if conf.contains("spark.master") else DEFAULT_LOCAL_MASTER)
    builder = SparkSession.builder.appName(app_name)
    if chosen:
        builder = builder.master(chosen)
    if chosen and chosen.startswith("local"):
        builder = builder.config("spark.driver.memory", local_memory).config("spark.ui.enabled", "false")
        # Python workers of a local session inherit the driver's environment.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    session = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Bounded input batches for mapInPandas: rows are file URIs, decoded one batch at a time.
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(arrow_batch_rows))
        .config("spark.python.worker.reuse", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "true")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel(os.environ.get("FRUITS_SPARK_LOG_LEVEL", "ERROR"))
    return session
