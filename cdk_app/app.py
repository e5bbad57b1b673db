"""Building the CDK app: configuration from context, the two EU stacks, and the cdk-nag checks."""

from __future__ import annotations

import dataclasses
import os

from aws_cdk import App, DefaultStackSynthesizer, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import STACK_NAME, PipelineConfig
from cdk_app.images import ImageRepositoryStack
from cdk_app.stack import PipelineStack


def build_app(app: App | None = None, *, nag: bool = True) -> tuple[App, PipelineStack]:
    """Add the image-repository and pipeline stacks (and AwsSolutions checks) to ``app``.

    Raises ConfigError on a bad setting. ``cdk deploy FruitsPipeline`` deploys the image stack first
    (a stack dependency), then publishes the Spark image into its repository, then the pipeline.
    """
    app = app or App()
    config = PipelineConfig.from_context(app)
    # The region is fixed by the configuration (EU only); the account comes from the CLI's
    # credentials at deploy time and stays a token offline.
    env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=config.region)
    names = config.names()
    stack = PipelineStack(
        app,
        STACK_NAME,
        config.props(),
        env=env,
        # Docker image assets go to the stack-owned repository, not the shared bootstrap one.
        synthesizer=DefaultStackSynthesizer(
            qualifier=config.bootstrap_qualifier, image_assets_repository_name=names.image_repository
        ),
        description="Fruits! image-feature pipeline (EU): uploads -> EMR Serverless Spark -> Parquet",
    )
    # Built after the pipeline stack so that its lifecycle rules protect the images that stack runs.
    images = ImageRepositoryStack(
        app,
        names.image_stack,
        dataclasses.replace(config.image_props(), protected_tags=stack.image_tags()),
        env=env,
        synthesizer=DefaultStackSynthesizer(qualifier=config.bootstrap_qualifier),
        description="Fruits! image-feature pipeline (EU): the Spark image repository",
    )
    stack.add_stack_dependency(images, reason="the Spark image is pushed into the image stack's repository")
    stack.images = images
    stack.config = config
    if nag:
        # Any unacknowledged AwsSolutions finding fails synthesis.
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
