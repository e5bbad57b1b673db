"""ImageRepositoryProps: defaults, validation, and the ECR repository the image stack derives from them."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template
from cdk_helpers import cdk_json_context, resolve_join

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.images import ImageRepositoryStack
from cdk_app.images_props import ImageRepositoryProps


def test_defaults_are_the_configuration_defaults() -> None:
    props = ImageRepositoryProps()
    assert props == PipelineConfig().image_props()
    assert (props.repository_name, props.image_retention_count, props.bootstrap_qualifier) == (
        "fruits-spark-image",
        5,
        "hnb659fds",
    )


def test_the_publishing_role_is_the_bootstrap_role_of_the_qualifier() -> None:
    props = ImageRepositoryProps(bootstrap_qualifier="abc123")
    assert props.publishing_role_arn("111122223333", "eu-west-1") == (
        "arn:aws:iam::111122223333:role/cdk-abc123-image-publishing-role-111122223333-eu-west-1"
    )
    config = PipelineConfig(region="eu-north-1", bootstrap_qualifier="abc123")
    assert (
        config.image_publishing_role_arn("1")
        == "arn:aws:iam::1:role/cdk-abc123-image-publishing-role-1-eu-north-1"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bootstrap_qualifier", "Hnb659fds", "bootstrap_qualifier 'Hnb659fds' must be 1-10 characters"),
        ("bootstrap_qualifier", "a" * 11, "must be 1-10 characters of a-z and 0-9"),
        ("image_retention_count", 0, "image_retention_count must be positive"),
        ("repository_name", "Spark", "repository_name 'Spark' must be an ECR repository name"),
    ],
)
def test_invalid_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ImageRepositoryProps(**{field: value})


def test_repository_follows_the_props() -> None:
    app = App(analytics_reporting=False, context=cdk_json_context())
    props = ImageRepositoryProps(repository_name="spark-x", image_retention_count=2, bootstrap_qualifier="q1")
    stack = ImageRepositoryStack(app, "Images", props, env=Environment(region="eu-west-1"))
    (repo,) = Template.from_stack(stack).find_resources("AWS::ECR::Repository").values()
    properties = repo["Properties"]
    assert properties["RepositoryName"] == "spark-x"
    assert '"countNumber":2' in properties["LifecyclePolicy"]["LifecyclePolicyText"]
    statements = {s["Sid"]: s for s in properties["RepositoryPolicyText"]["Statement"]}
    publisher = resolve_join(statements["CdkImagePublishing"]["Principal"]["AWS"])
    assert publisher.endswith(":role/cdk-q1-image-publishing-role-${AWS::AccountId}-eu-west-1")
