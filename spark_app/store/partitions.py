"""Replacing one batch's partition of a dataset: the only way batches are (re)written."""

from __future__ import annotations

from typing import Any

from spark_app.core.schema import PARTITION_COLUMN
from spark_app.core.uris import join_uri
from spark_app.store import spark_fs


def partition_name(batch_id: str) -> str:
    """``batch_id=<id>``: the folder of one batch under a dataset."""
    return f"{PARTITION_COLUMN}={batch_id}"


def replace_partition(spark: Any, frame: Any, base: str, batch_id: str) -> None:
    """Write ``frame`` (rows of one batch, with the partition column) as the batch's whole partition.

    Dynamic partition overwrite is set on the writer itself, so whatever the session's setting,
    only this batch's folder is replaced and every other batch stays as it is.
    """

    def write(target: str) -> None:
        (
            frame.write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy(PARTITION_COLUMN)
            .parquet(target)
        )

    spark_fs.write_via(spark, base, write, replace=partition_name(batch_id))


def delete_partition(base: str, batch_id: str) -> None:
    """Remove a batch's partition (a re-run that has no rows left there)."""
    spark_fs.delete(join_uri(base, partition_name(batch_id)))


def read_dataset(spark: Any, location: str) -> Any | None:
    """A partitioned Parquet dataset (every batch), or None when it does not exist or holds no file yet."""
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(location)
    except AnalysisException as exc:
        if exc.getErrorClass() in ("PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA"):
            return None
        raise
