"""Every props class: a frozen dataclass beside its construct, each field documented with its default."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

from cdk_app.answer_props import AnswerProps
from cdk_app.app_access_props import AppAccessProps
from cdk_app.artifacts_props import ArtifactsProps
from cdk_app.catalog_props import CatalogProps
from cdk_app.images_props import ImageRepositoryProps
from cdk_app.ingest_props import IngestProps
from cdk_app.monitoring_props import AlertTopicProps, MonitoringProps
from cdk_app.orchestration_props import OrchestrationProps, RefitProps, SparkJobProps
from cdk_app.processing_props import ProcessingProps
from cdk_app.stack_props import PipelineProps
from cdk_app.storage_props import StorageProps

PROPS = (
    StorageProps,
    ArtifactsProps,
    ProcessingProps,
    SparkJobProps,
    OrchestrationProps,
    RefitProps,
    CatalogProps,
    IngestProps,
    AlertTopicProps,
    MonitoringProps,
    ImageRepositoryProps,
    AnswerProps,
    AppAccessProps,
    PipelineProps,
)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the ``#:`` comment lines just above its declaration in the class source."""
    lines = inspect.getsource(cls).splitlines()
    docs: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = re.match(r"    (\w+): ", line)
        if not match:
            continue
        above = []
        for previous in reversed(lines[:index]):
            if not previous.startswith("    #:"):
                break
            above.insert(0, previous.removeprefix("    #:").strip())
        docs[match.group(1)] = " ".join(above)
    return docs


@pytest.mark.parametrize("cls", PROPS, ids=lambda cls: cls.__name__)
def test_props_are_frozen_and_every_field_says_what_it_is_and_its_default(cls: type) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert cls.__module__.endswith("_props")
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        doc = docs.get(f.name, "")
        assert re.search(r"Default ", doc), f"{cls.__name__}.{f.name}: no '#:' docstring with its default"
        assert len(doc.split("Default ")[0].split()) >= 3, f"{cls.__name__}.{f.name}: say what it is"


@pytest.mark.parametrize("cls", PROPS, ids=lambda cls: cls.__name__)
def test_every_props_class_is_valid_with_its_defaults(cls: type) -> None:
    assert cls() == cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cls().__setattr__(dataclasses.fields(cls)[0].name, None)
