"""The Glue Data Catalog tables over the feature store: each batch registers its partition.

The stack defines a database with the tables ``features`` and ``errors`` (Parquet, partitioned by
``batch_id``, no crawler). Partition projection cannot enumerate arbitrary batch ids, so the job adds
its own partition to both tables after writing them; re-running a batch finds them already there.
Queries then run in Athena (``SELECT label, count(*) FROM features GROUP BY label``) and, over the
folders, locally with Spark (:mod:`spark_app.queries`).
"""

from __future__ import annotations

from typing import Any

from spark_app.core.schema import DATASETS
from spark_app.core.uris import is_s3_uri, join_uri
from spark_app.store.objects import aws_region
from spark_app.store.partitions import partition_name

TABLES = tuple(DATASETS)
_ALREADY_THERE = "AlreadyExistsException"


class CatalogError(RuntimeError):
    """The catalog refused a partition (the message says which and why)."""


def glue_client() -> Any:
    """A Glue client in the job's region (:func:`~spark_app.store.objects.aws_region`)."""
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client("glue", region_name=aws_region())
    except NoRegionError:
        raise CatalogError("no AWS region for the Glue catalog: pass --region (or set AWS_REGION)") from None


def partition_input(table: dict[str, Any], location: str, batch_id: str) -> dict[str, Any]:
    """A partition of ``table`` (GetTable's ``Table``) at ``location``: the table's storage, moved."""
    descriptor = {k: v for k, v in table["StorageDescriptor"].items() if k != "Location"}
    return {"Values": [batch_id], "StorageDescriptor": {**descriptor, "Location": location}}


def register_batch(database: str, store: str, batch_id: str, client: Any | None = None) -> list[str]:
    """Add ``batch_id``'s partition to each table (idempotent); returns the locations registered."""
    if not is_s3_uri(store):
        raise CatalogError(f"the Glue catalog describes S3 data only: {store} is not an s3:// location")
    glue = client or glue_client()
    locations = []
    for name in TABLES:
        location = join_uri(store, name, partition_name(batch_id)) + "/"
        try:
            table = glue.get_table(DatabaseName=database, Name=name)["Table"]
            response = glue.batch_create_partition(
                DatabaseName=database,
                TableName=name,
                PartitionInputList=[partition_input(table, location, batch_id)],
            )
        except Exception as exc:
            raise CatalogError(f"cannot register {location} in {database}.{name}: {exc}") from None
        failed = [e for e in response.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != _ALREADY_THERE]
        if failed:
            raise CatalogError(f"cannot register {location} in {database}.{name}: {failed[0]['ErrorDetail']}")
        locations.append(location)
    return locations


def drop_batch_partition(database: str, table: str, batch_id: str, client: Any | None = None) -> bool:
    """Remove ``batch_id``'s partition from ``table`` (its folder is gone); False when it was not there."""
    glue = client or glue_client()
    try:
        response = glue.batch_delete_partition(
            DatabaseName=database, TableName=table, PartitionsToDelete=[{"Values": [batch_id]}]
        )
    except Exception as exc:
        raise CatalogError(f"cannot drop partition {batch_id} of {database}.{table}: {exc}") from None
    errors = response.get("Errors", [])
    if errors and errors[0]["ErrorDetail"].get("ErrorCode") != "EntityNotFoundException":
        raise CatalogError(
            f"cannot drop partition {batch_id} of {database}.{table}: {errors[0]['ErrorDetail']}"
        )
    return not errors
