"""CatalogProps: defaults, validation, and the Glue database and tables the Catalog derives from them."""

from __future__ import annotations

import pytest
from aws_cdk import aws_s3 as s3
from cdk_helpers import probe, resolve_join

from cdk_app.catalog import Catalog
from cdk_app.catalog_props import CatalogProps
from cdk_app.config import ConfigError, PipelineConfig


def test_defaults_are_the_configuration_defaults() -> None:
    props = CatalogProps()
    assert props == PipelineConfig().catalog_props()
    assert (props.database_name, props.features_prefix) == ("fruits_features", "features-store/")
    assert PipelineConfig(name_prefix="fruits-dev").catalog_props().database_name == "fruits_dev_features"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_name", "Fruits", "database_name 'Fruits' must be 1-255 characters"),
        ("database_name", "fruits-features", "must be 1-255 characters of a-z, 0-9 and '_'"),
        ("database_name", "", "database_name '' must be"),
        ("features_prefix", "features", "features_prefix 'features' must be a key prefix"),
    ],
)
def test_invalid_props_are_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CatalogProps(**{field: value})


def test_database_and_table_locations_follow_the_props() -> None:
    props = CatalogProps(database_name="my_store", features_prefix="store/")
    p = probe(lambda stack: Catalog(stack, "Catalog", props, results=s3.Bucket(stack, "Results")))
    (database,) = p.resources("AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == "my_store"
    tables = p.resources("AWS::Glue::Table").values()
    assert {t["Properties"]["DatabaseName"] for t in tables} == {"my_store"}
    locations = sorted(
        resolve_join(t["Properties"]["TableInput"]["StorageDescriptor"]["Location"]) for t in tables
    )
    bucket = next(iter(p.resources("AWS::S3::Bucket")))
    assert locations == [
        f"s3://${{{bucket}}}/store/corrections/",
        f"s3://${{{bucket}}}/store/errors/",
        f"s3://${{{bucket}}}/store/features/",
    ]
