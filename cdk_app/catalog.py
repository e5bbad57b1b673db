"""Catalog: a Glue database with the ``features``, ``errors`` and ``corrections`` tables over the store.

No crawler: the columns come from ``spark_app/core/schema.py`` (what the job and the corrections writer
write). Each job registers its own batch partition of ``features`` and ``errors``
(``spark_app/store/catalog.py``), since partition projection cannot enumerate arbitrary batch ids.
``corrections`` (one JSON line per object, ``corrections/<identity id>/<photo id>.json``) is not
partitioned: Athena reads every object under a table's location, sub-folders included, so a new or
erased identity needs no catalog change. Athena queries them as they are (docs/queries.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.catalog_props import CatalogProps
from spark_app.core import schema
from spark_app.core.defaults import CORRECTIONS_DIR

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
#: The Hive JSON SerDe (one JSON object per line; Athena documents the OpenX one as non-deterministic).
JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


@dataclass(frozen=True)
class TableFormat:
    """How a table's objects are stored: Glue's classification, Hive input/output formats and SerDe."""

    classification: str
    input_format: str
    output_format: str
    serde: str


PARQUET = TableFormat("parquet", PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE)
JSON_LINES = TableFormat("json", TEXT_INPUT, TEXT_OUTPUT, JSON_SERDE)


def glue_arns(stack: Stack, database: str, tables: list[str]) -> list[str]:
    """The catalog, database and table ARNs Glue authorizes a table request on."""
    prefix = f"arn:aws:glue:{stack.region}:{stack.account}"
    return [
        f"{prefix}:catalog",
        f"{prefix}:database/{database}",
        *(f"{prefix}:table/{database}/{t}" for t in tables),
    ]


class Catalog(Construct):
    """The database, one external Parquet table per dataset (partitioned by ``batch_id``) and the
    corrections' JSON table."""

    def __init__(self, scope: Construct, construct_id: str, props: CatalogProps, *, results: s3.IBucket):
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database_name = props.database_name
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description="Fruits! feature store (features and errors per batch)"
            ),
        )
        self.tables: dict[str, glue.CfnTable] = {}
        for name, columns in schema.DATASETS.items():
            self.tables[name] = self._table(props, results, name, columns, PARQUET, partitioned=True)
        # People's corrections: JSON objects in per-identity folders, one table, no partitions.
        self.tables[CORRECTIONS_DIR] = self._table(
            props, results, CORRECTIONS_DIR, schema.CORRECTIONS, JSON_LINES, partitioned=False
        )

    def _table(
        self,
        props: CatalogProps,
        results: s3.IBucket,
        name: str,
        columns: tuple[tuple[str, str], ...],
        storage: TableFormat,
        *,
        partitioned: bool,
    ) -> glue.CfnTable:
        """An external table over ``<features prefix><name>/`` (partitioned by ``batch_id`` or not)."""
        account = Stack.of(self).account
        table = glue.CfnTable(
            self,
            name.capitalize(),
            catalog_id=account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                table_type="EXTERNAL_TABLE",
                parameters={"classification": storage.classification, "EXTERNAL": "TRUE"},
                partition_keys=[glue.CfnTable.ColumnProperty(name=schema.PARTITION_COLUMN, type="string")]
                if partitioned
                else None,
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{results.bucket_name}/{props.features_prefix}{name}/",
                    input_format=storage.input_format,
                    output_format=storage.output_format,
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=storage.serde),
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in columns],
                ),
            ),
        )
        table.add_resource_dependency(self.database)
        return table
