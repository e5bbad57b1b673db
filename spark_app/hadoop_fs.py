"""Spark-side file system access, and the fallback when Spark has no connector for s3://.

EMR Serverless reads and writes ``s3://`` natively (EMRFS). A plain pyspark install has no
S3 connector; there, an ``s3://`` output is staged in a local folder and uploaded with
boto3 (the same client, and endpoint setting, that reads the inputs).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from spark_app import storage


def _path_and_fs(spark: Any, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def spark_can_access(spark: Any, uri: str) -> bool:
    """True when Spark's Hadoop file system handles the URI's scheme."""
    try:
        _path_and_fs(spark, uri)
        return True
    except Exception as exc:  # py4j wraps UnsupportedFileSystemException
        if "No FileSystem for scheme" in str(exc):
            return False
        raise


def delete(spark: Any, uri: str) -> None:
    """Recursively delete a path or prefix (through Hadoop, or boto3 without a connector)."""
    if storage.is_s3_uri(uri) and not spark_can_access(spark, uri):
        storage.delete_prefix(uri.rstrip("/") + "/")
        return
    path, fs = _path_and_fs(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def write_via(spark: Any, uri: str, write: Callable[[str], None], *, replace: str | None = None) -> None:
    """Run ``write(target)`` against ``uri``, or against a local folder uploaded to ``uri``.

    ``replace``: a sub-path of ``uri`` whose old objects are deleted before the upload
    (the staged write only holds the new content).
    """
    if not (storage.is_s3_uri(uri) and not spark_can_access(spark, uri)):
        write(uri)
        return
    with tempfile.TemporaryDirectory(prefix="fruits-stage-") as staging:
        write(staging)
        if replace is not None:
            storage.delete_prefix(storage.join_uri(uri, replace) + "/")
        storage.upload_dir(staging, uri)


def read_via(spark: Any, uri: str, read: Callable[[str], Any]) -> Any:
    """Run ``read(source)`` on ``uri``, or on a local copy of it without a connector."""
    if not (storage.is_s3_uri(uri) and not spark_can_access(spark, uri)):
        return read(uri)
    with tempfile.TemporaryDirectory(prefix="fruits-stage-") as staging:
        storage.download_prefix(uri, staging)
        return read(staging)


@contextmanager
def readable(spark: Any, uri: str) -> Iterator[str]:
    """A location Spark can read ``uri`` from for the whole ``with`` block (lazy DataFrames included):
    ``uri`` itself, or a local copy of it without a connector."""
    if not (storage.is_s3_uri(uri) and not spark_can_access(spark, uri)):
        yield uri
        return
    with tempfile.TemporaryDirectory(prefix="fruits-stage-") as staging:
        storage.download_prefix(uri, staging)
        yield staging
