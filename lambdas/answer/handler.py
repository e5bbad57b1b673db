"""Lambda entry point (``lambdas.answer.handler.handler``), invoked by EventBridge for each upload.

The model, the S3 client and the heads cache are built at import, once per container (the init phase);
a warm invocation reads, decodes, infers and writes only.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.answer.config import load_config
from lambdas.answer.log import logger
from lambdas.answer.runtime import build_runtime
from lambdas.answer.service import answer_event, summary

RUNTIME = build_runtime(load_config())


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 "Object Created" event (EventBridge) -> the upload's answer, written unless it has one."""
    result = summary(answer_event(event, RUNTIME))
    logger.info("Skipped" if "skipped" in result else "Answered", extra=result)
    return result
