"""The feature store as SQL tables, locally with Spark: the same queries as in Athena.

``features`` and ``errors`` are views over the store's folders (all batches; ``batch_id`` is a column as
in the Glue tables), ``corrections`` over people's corrections (one JSON object each, read with the
same reader as training). A dataset with no file yet (a store whose batches had no errors, no
correction yet) is an empty view with the same columns, so every query runs on every store.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from spark_app.core import schema
from spark_app.core.uris import join_uri
from spark_app.store import spark_fs
from spark_app.store.corrections import corrections_root, read_corrections
from spark_app.store.partitions import read_dataset

#: Example queries (also in docs/queries.md); each runs unchanged in Athena and here.
EXAMPLES = {
    "images per label": "SELECT label, count(*) AS images FROM features GROUP BY label ORDER BY label",
    "errors per stage": "SELECT error_stage, count(*) AS files FROM errors GROUP BY error_stage",
    "rows per PCA basis": "SELECT pca_version, count(*) AS rows FROM features GROUP BY pca_version",
    "batches": "SELECT batch_id, count(*) AS images FROM features GROUP BY batch_id ORDER BY batch_id",
    "new-class proposals": (
        "SELECT label, count(DISTINCT identity_id) AS people FROM corrections WHERE new_class "
        "GROUP BY label ORDER BY people DESC, label"
    ),
}


def run_query(spark: Any, store: str, sql: str) -> Any:
    """The query's result as a pandas DataFrame, over views ``features`` and ``errors`` of ``store``."""
    with ExitStack() as staged:  # local copies of s3:// data (no S3 connector) live until the end
        for name, columns in schema.DATASETS.items():
            location = staged.enter_context(spark_fs.readable(spark, join_uri(store, name)))
            frame = read_dataset(spark, location)
            if frame is None:
                frame = spark.createDataFrame([], schema.ddl((*columns, (schema.PARTITION_COLUMN, "string"))))
            frame.createOrReplaceTempView(name)
        corrections_view(spark, store).createOrReplaceTempView("corrections")
        return spark.sql(sql).toPandas()


def corrections_view(spark: Any, store: str) -> Any:
    """People's corrections as a DataFrame with the Glue table's columns, read by the driver with the
    training's reader (the same records, the same malformed objects left out)."""
    records = read_corrections(corrections_root(store)).records
    rows = [tuple(getattr(c, name) for name in schema.names(schema.CORRECTIONS)) for c in records]
    return spark.createDataFrame(rows, schema.ddl(schema.CORRECTIONS))
