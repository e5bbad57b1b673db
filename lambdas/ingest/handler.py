"""Lambda entry point (``lambdas.ingest.handler.handler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.ingest.aws import default_clients
from lambdas.ingest.config import load_config
from lambdas.ingest.log import logger
from lambdas.ingest.service import process_event


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch of S3 upload notifications -> one manifest and one state-machine execution."""
    return process_event(event, load_config(), default_clients())
