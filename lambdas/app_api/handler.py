"""Lambda entry point (``lambdas.app_api.handler.handler``)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.app_api.aws import default_clients
from lambdas.app_api.config import load_config
from lambdas.app_api.log import logger
from lambdas.app_api.service import dispatch


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An HTTP API (payload 2.0) request of an app identity -> its response."""
    return dispatch(event, load_config(), default_clients(), time.time())
