"""The feature store as tables: Glue partitions registered by the job, the same SQL locally with Spark."""

from __future__ import annotations

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from spark_app.store.catalog import CatalogError, register_batch
from spark_app.store.queries import EXAMPLES, run_query

REGION = "eu-west-3"
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


@mock_aws
def test_the_job_registers_its_partition_in_both_tables_idempotently(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": "fruits_features"})
    for table in ("features", "errors"):
        glue.create_table(
            DatabaseName="fruits_features",
            TableInput={
                "Name": table,
                "PartitionKeys": [{"Name": "batch_id", "Type": "string"}],
                "StorageDescriptor": {
                    "Columns": [{"Name": "path", "Type": "string"}],
                    "Location": f"s3://results/features-store/{table}/",
                    **PARQUET,
                },
            },
        )
    for _ in range(2):  # a re-run finds its partitions already there
        locations = register_batch("fruits_features", "s3://results/features-store", "batch-1", client=glue)
    assert locations == [
        "s3://results/features-store/features/batch_id=batch-1/",
        "s3://results/features-store/errors/batch_id=batch-1/",
    ]
    (partition,) = glue.get_partitions(DatabaseName="fruits_features", TableName="features")["Partitions"]
    assert partition["Values"] == ["batch-1"]
    assert partition["StorageDescriptor"]["Location"] == locations[0]
    assert partition["StorageDescriptor"]["SerdeInfo"] == PARQUET["SerdeInfo"]
    with pytest.raises(CatalogError, match=r"cannot register .* fruits_features\.features"):
        register_batch(
            "fruits_features",
            "s3://results/elsewhere",
            "b",
            client=boto3.client("glue", region_name="eu-west-1"),
        )
    with pytest.raises(CatalogError, match="describes S3 data only"):
        register_batch("fruits_features", "/local/store", "batch-1", client=glue)


@pytest.mark.spark
def test_the_example_queries_run_locally_over_the_folders(spark, tmp_path) -> None:
    store = tmp_path / "store"
    features = pd.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "label": ["Apple", "Apple", "Kiwi"],
            "pca_version": ["v1", "v1", None],
            "batch_id": ["batch-1", "batch-1", "batch-2"],
        }
    )
    errors = pd.DataFrame({"path": ["x.jpg"], "error_stage": ["decode"], "batch_id": ["batch-2"]})
    spark.createDataFrame(features).write.partitionBy("batch_id").parquet(str(store / "features"))
    spark.createDataFrame(errors).write.partitionBy("batch_id").parquet(str(store / "errors"))

    per_label = run_query(spark, str(store), EXAMPLES["images per label"])
    assert per_label.to_dict("records") == [{"label": "Apple", "images": 2}, {"label": "Kiwi", "images": 1}]
    per_stage = run_query(spark, str(store), EXAMPLES["errors per stage"])
    assert per_stage.to_dict("records") == [{"error_stage": "decode", "files": 1}]
    batches = run_query(spark, str(store), EXAMPLES["batches"])
    assert batches["batch_id"].tolist() == ["batch-1", "batch-2"]
    assert run_query(spark, str(store), "SELECT label, count(*) FROM features GROUP BY label").shape == (2, 2)


@pytest.mark.spark
def test_a_store_without_errors_still_has_an_errors_view(spark, tmp_path) -> None:
    """A store whose batches had no failed file has no errors/ folder: the view exists, empty."""
    store = tmp_path / "store"
    features = pd.DataFrame({"image_id": ["a"], "label": ["Apple"], "batch_id": ["batch-1"]})
    spark.createDataFrame(features).write.partitionBy("batch_id").parquet(str(store / "features"))
    assert run_query(spark, str(store), EXAMPLES["errors per stage"]).empty
    assert run_query(spark, str(store), "SELECT count(*) AS n FROM errors")["n"].tolist() == [0]


@pytest.mark.spark
def test_corrections_are_a_table_too_and_proposals_are_counted_per_person(spark, tmp_path) -> None:
    from spark_app.core.corrections import new_correction
    from spark_app.store.corrections import write_correction

    store = str(tmp_path / "store")
    empty = run_query(spark, store, "SELECT count(*) AS n FROM corrections")  # none yet: an empty table
    assert empty["n"].tolist() == [0]
    people = [f"eu-west-3:0000000{n}-0000-4000-8000-000000000000" for n in range(3)]
    for n, (person, label, new) in enumerate(
        [
            (people[0], "Mango", True),
            (people[1], "Mango", True),
            (people[1], "Kiwi", False),
            (people[2], "Yuzu", True),
        ]
    ):
        write_correction(
            store, new_correction(person, f"p{n}", f"{n:064x}", label, known_classes={"Kiwi"}, new_class=new)
        )
    proposals = run_query(spark, store, EXAMPLES["new-class proposals"])
    assert proposals.to_dict("records") == [{"label": "Mango", "people": 2}, {"label": "Yuzu", "people": 1}]
    columns = run_query(spark, store, "SELECT * FROM corrections WHERE NOT new_class")
    assert columns.columns.tolist()[:4] == ["identity_id", "photo_id", "image_id", "label"]
    assert columns["label"].tolist() == ["Kiwi"]
