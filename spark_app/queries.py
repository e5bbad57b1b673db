"""The feature store as SQL tables, locally with Spark: the same queries as in Athena.

``python -m spark_app sql --store out/demo "SELECT label, count(*) FROM features GROUP BY label"``
registers ``features`` and ``errors`` as views over the store's folders (all batches; ``batch_id``
is a column as in the Glue tables) and prints the result.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from spark_app import hadoop_fs, storage
from spark_app.catalog import TABLES

#: Example queries (also in docs/queries.md); each runs unchanged in Athena and here.
EXAMPLES = {
    "images per label": "SELECT label, count(*) AS images FROM features GROUP BY label ORDER BY label",
    "errors per stage": "SELECT error_stage, count(*) AS files FROM errors GROUP BY error_stage",
    "rows per PCA basis": "SELECT pca_version, count(*) AS rows FROM features GROUP BY pca_version",
    "batches": "SELECT batch_id, count(*) AS images FROM features GROUP BY batch_id ORDER BY batch_id",
}


def run_query(spark: Any, store: str, sql: str) -> Any:
    """The query's result as a pandas DataFrame, over views ``features`` and ``errors`` of ``store``."""
    with ExitStack() as staged:  # local copies of s3:// data (no S3 connector) live until the end
        for name in TABLES:
            location = staged.enter_context(hadoop_fs.readable(spark, storage.join_uri(store, name)))
            try:
                spark.read.parquet(location).createOrReplaceTempView(name)
            except Exception as exc:  # a store without errors (yet) has no errors table
                if "PATH_NOT_FOUND" not in str(exc) and "UNABLE_TO_INFER_SCHEMA" not in str(exc):
                    raise
        return spark.sql(sql).toPandas()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_app sql", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="feature store root (the job's --output)")
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (e.g. an emulator)")
    parser.add_argument("query", nargs="?", default=EXAMPLES["images per label"])
    args = parser.parse_args(argv)
    if args.s3_endpoint_url:
        import os

        os.environ[storage.ENDPOINT_ENV] = args.s3_endpoint_url
    from spark_app.session import build_session

    spark = build_session("fruits-sql", master=None, arrow_batch_rows=1024)
    try:
        print(run_query(spark, args.store, args.query).to_string(index=False))
    except Exception as exc:
        print(f"spark_app sql: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    return 0
