"""Replacing one batch's partition of a dataset: the only way batches are (re)written."""

from __future__ import annotations

from typing import Any

from spark_app import hadoop_fs, storage
from spark_app.schema import PARTITION_COLUMN


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

    hadoop_fs.write_via(spark, base, write, replace=partition_name(batch_id))


def delete_partition(spark: Any, base: str, batch_id: str) -> None:
    """Remove a batch's partition (a re-run that has no rows left there)."""
    hadoop_fs.delete(spark, storage.join_uri(base, partition_name(batch_id)))
