"""The Spark session: ``local[*]`` unless spark-submit (or EMR Serverless) chose a master."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_LOCAL_MASTER = "local[*]"
LOCAL_SHUFFLE_PARTITIONS = 8


#: The console logging of a local session (EMR Serverless keeps its own).
LOCAL_LOG4J = Path(__file__).with_name("log4j2-local.properties")


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
        builder = (
            builder.config("spark.driver.memory", local_memory)
            .config("spark.ui.enabled", "false")
            # One machine: a few shuffle partitions, not 200 (a store's dedup and group-bys are small).
            .config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
            # Quiet start-up: no warnings about the machine above a command's own output or error line.
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOCAL_LOG4J}")
        )
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
        .config("spark.ui.showConsoleProgress", str(sys.stderr.isatty()).lower())  # a bar for people only
        .config("spark.sql.parquet.compression.codec", "zstd")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel(os.environ.get("FRUITS_SPARK_LOG_LEVEL", "ERROR"))
    return session


def ship_package(spark) -> None:
    """Make ``spark_app`` importable on executors when it runs from a source checkout.

    On EMR Serverless the package arrives with ``--py-files spark_app.zip``; from a checkout
    (``spark-submit spark_app/__main__.py`` or ``python -m spark_app`` from any folder) the
    package is zipped and added to the context, so workers never depend on the working folder.
    """
    import tempfile
    import zipfile
    from pathlib import Path

    import spark_app

    package = Path(spark_app.__file__).resolve().parent
    if not package.is_dir():  # already inside a zip shipped with --py-files
        return
    archive = Path(tempfile.mkdtemp(prefix="fruits-pyfiles-")) / "spark_app.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for source in sorted(package.rglob("*.py")):
            zf.write(source, source.relative_to(package.parent).as_posix())
    spark.sparkContext.addPyFile(str(archive))
