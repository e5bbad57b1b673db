"""Catalog: a Glue database with the ``features`` and ``errors`` tables over the feature store.

No crawler: the columns come from ``spark_app/schema.py`` (what the job writes) and each job registers
its own batch partition (``spark_app/catalog.py``), since partition projection cannot enumerate
arbitrary batch ids. Athena queries them as they are (docs/queries.md).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.catalog_props import CatalogProps
from spark_app.core import schema

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def glue_arns(stack: Stack, database: str, tables: list[str]) -> list[str]:
    """The catalog, database and table ARNs Glue authorizes a table request on."""
    prefix = f"arn:aws:glue:{stack.region}:{stack.account}"
    return [
        f"{prefix}:catalog",
        f"{prefix}:database/{database}",
        *(f"{prefix}:table/{database}/{t}" for t in tables),
    ]


class Catalog(Construct):
    """The database and one external Parquet table per dataset, partitioned by ``batch_id``."""

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
            table = glue.CfnTable(
                self,
                name.capitalize(),
                catalog_id=account,
                database_name=self.database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=name,
                    table_type="EXTERNAL_TABLE",
                    parameters={"classification": "parquet", "EXTERNAL": "TRUE"},
                    partition_keys=[
                        glue.CfnTable.ColumnProperty(name=schema.PARTITION_COLUMN, type="string")
                    ],
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=f"s3://{results.bucket_name}/{props.features_prefix}{name}/",
                        input_format=PARQUET_INPUT,
                        output_format=PARQUET_OUTPUT,
                        serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=PARQUET_SERDE),
                        columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in columns],
                    ),
                ),
            )
            table.add_resource_dependency(self.database)
            self.tables[name] = table
