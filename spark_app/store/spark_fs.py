"""Where Spark reads and writes datasets, and the fallback when Spark has no connector for s3://.

EMR Serverless reads and writes ``s3://`` natively (EMRFS). A plain pyspark install (``local[*]``: the
demo, the tests, the local end-to-end flow) has no S3 connector: there, an ``s3://`` dataset is staged in
a local folder and copied with boto3 (the same client, and endpoint setting, that reads the inputs).
Deleting a prefix never needs Spark: boto3 for S3, the file system otherwise.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from spark_app.core.uris import is_s3_uri, join_uri
from spark_app.store import objects

#: Spark setting that overrides the detection (``true``: Spark writes s3:// itself; ``false``: stage).
DIRECT_S3_CONF = "spark.fruits.s3.direct"


def spark_reaches_s3(spark: Any) -> bool:
    """True when Spark's own file system handles s3:// (EMRFS on EMR); False for a local session."""
    setting = spark.conf.get(DIRECT_S3_CONF, None)
    if setting is not None:
        return setting.strip().lower() == "true"
    return not spark.sparkContext.master.startswith("local")


def _staged(spark: Any, uri: str) -> bool:
    return is_s3_uri(uri) and not spark_reaches_s3(spark)


def delete(uri: str) -> None:
    """Recursively delete a folder or an s3:// prefix (nothing happens when it does not exist)."""
    objects.delete_prefix(uri.rstrip("/") + "/")


def write_via(spark: Any, uri: str, write: Callable[[str], None], *, replace: str | None = None) -> None:
    """Run ``write(target)`` against ``uri``, or against a local folder uploaded to ``uri``.

    ``replace``: a sub-path of ``uri`` whose old objects are deleted before the upload
    (the staged write only holds the new content).
    """
    if not _staged(spark, uri):
        write(uri)
        return
    with tempfile.TemporaryDirectory(prefix="fruits-stage-") as staging:
        write(staging)
        if replace is not None:
            objects.delete_prefix(join_uri(uri, replace) + "/")
        objects.upload_dir(staging, uri)


@contextmanager
def readable(spark: Any, uri: str) -> Iterator[str]:
    """A location Spark can read ``uri`` from for the whole ``with`` block (lazy DataFrames included):
    ``uri`` itself, or a local copy of it without a connector."""
    if not _staged(spark, uri):
        yield uri
        return
    with tempfile.TemporaryDirectory(prefix="fruits-stage-") as staging:
        objects.download_prefix(uri, staging)
        yield staging
