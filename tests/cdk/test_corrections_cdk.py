"""People's corrections in the stack: their Glue table, and the refit's promotion gate."""

from __future__ import annotations

from aws_cdk import aws_s3 as s3
from cdk_helpers import probe, resolve_join
from test_orchestration import _resources

from cdk_app.catalog import JSON_SERDE, Catalog
from cdk_app.catalog_props import CatalogProps
from cdk_app.orchestration import refit_steps
from cdk_app.orchestration_props import RefitProps
from spark_app.core import schema


def test_corrections_are_one_unpartitioned_json_table_over_every_identity_folder() -> None:
    props = CatalogProps(database_name="my_store", features_prefix="store/")
    p = probe(lambda stack: Catalog(stack, "Catalog", props, results=s3.Bucket(stack, "Results")))
    (table,) = [
        t["Properties"]["TableInput"]
        for t in p.resources("AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == "corrections"
    ]
    descriptor = table["StorageDescriptor"]
    assert "PartitionKeys" not in table  # a new or erased identity changes no partition
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == JSON_SERDE
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == list(schema.CORRECTIONS)
    bucket = next(iter(p.resources("AWS::S3::Bucket")))
    assert resolve_join(descriptor["Location"]) == f"s3://${{{bucket}}}/store/corrections/"


def test_the_refit_trains_with_the_corrections_and_promotes_only_through_the_gate() -> None:
    steps = probe(lambda stack: refit_steps(RefitProps(), _resources(stack))).construct
    arguments = {state: args for state, _, args in steps}
    assert arguments["PromoteClassifier"][:2] == ["classifier", "promote"]
    assert arguments["PromoteClassifier"][-1] == "--gate"
    assert "--corrections" not in arguments["TrainClassifier"]  # the default: <store>/corrections
    assert "--gate" not in arguments["PromotePca"]
