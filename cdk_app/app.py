"""Building the CDK app: configuration from context, the EU stack, and the cdk-nag checks."""

from __future__ import annotations

import os

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import STACK_NAME, PipelineConfig
from cdk_app.stack import PipelineStack


def build_app(app: App | None = None, *, nag: bool = True) -> tuple[App, PipelineStack]:
    """Add the pipeline stack (and AwsSolutions checks) to ``app``; raises ConfigError on a bad setting."""
    app = app or App()
    config = PipelineConfig.from_context(app)
    stack = PipelineStack(
        app,
        STACK_NAME,
        config=config,
        # The region is fixed by the configuration (EU only); the account comes from the CLI's
        # credentials at deploy time and stays a token offline.
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=config.region),
        description="Fruits! image-feature pipeline (EU): uploads -> EMR Serverless Spark -> Parquet",
    )
    if nag:
        # Any unacknowledged AwsSolutions finding fails synthesis.
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
