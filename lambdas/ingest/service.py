"""One invocation: parse every message, then commit the batch (manifest + execution) once.

Powertools' BatchProcessor runs the per-message parsing and builds the partial-failure
response; a failed commit marks every message that contributed objects as failed too.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.ingest.aws import AwsClients, put_manifest, start_execution
from lambdas.ingest.batch import BatchPlan, plan_batch
from lambdas.ingest.config import IngestConfig
from lambdas.ingest.events import MalformedMessageError, ParsedMessage, parse_message
from lambdas.ingest.log import logger


def process_event(
    event: Mapping[str, Any], config: IngestConfig, clients: AwsClients
) -> PartialItemFailureResponse:
    """Handle an SQS event; returns ``{"batchItemFailures": [...]}`` naming the messages to retry."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("event has no 'Records' list: not an SQS batch")
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    parsed: dict[str, tuple[SQSRecord, ParsedMessage]] = {}

    def parse_record(record: SQSRecord) -> None:
        try:
            result = parse_message(
                record.body,
                uploads_prefix=config.uploads_prefix,
                max_object_bytes=config.max_object_bytes,
                curated_prefix=config.curated_prefix,
            )
        except MalformedMessageError as exc:
            logger.warning("Malformed message", extra={"message_id": record.message_id, "error": str(exc)})
            raise
        except Exception:
            logger.exception(
                "Unexpected error while parsing message", extra={"message_id": record.message_id}
            )
            raise
        parsed[record.message_id] = (record, result)
        _log_skips(record.message_id, result)

    with processor(records=records, handler=parse_record):
        processor.process()
        plan = plan_batch(
            [(message_id, result) for message_id, (_, result) in parsed.items()],
            manifest_bucket=config.manifest_bucket,
            manifest_prefix=config.manifest_prefix,
        )
        if plan is None:
            logger.info("No valid objects in batch: nothing to start")
        else:
            try:
                _commit(plan, config, clients)
            except (BotoCoreError, ClientError):
                logger.exception(
                    "Batch commit failed: contributing messages will be retried",
                    extra={
                        "batch_id": plan.batch_id,
                        "failed_message_ids": list(plan.contributing_message_ids),
                    },
                )
                for message_id in plan.contributing_message_ids:
                    processor.failure_handler(record=parsed[message_id][0], exception=sys.exc_info())

    response = processor.response()
    _log_summary(len(records), parsed, plan, response)
    return response


def _commit(plan: BatchPlan, config: IngestConfig, clients: AwsClients) -> None:
    put_manifest(clients.s3, bucket=plan.manifest_bucket, key=plan.manifest_key, text=plan.manifest_text)
    started = start_execution(
        clients.stepfunctions,
        state_machine_arn=config.state_machine_arn,
        name=plan.batch_id,
        input_json=plan.execution_input(),
    )
    logger.info(
        "Execution started" if started else "Execution already exists (redelivered batch)",
        extra={
            "batch_id": plan.batch_id,
            "execution_name": started,
            "image_count": len(plan.entries),
            "manifest_uri": plan.manifest_uri,
        },
    )


def _log_skips(message_id: str, result: ParsedMessage) -> None:
    for skip in result.skipped:
        logger.info(
            "Record skipped", extra={"message_id": message_id, "reason": skip.reason, "detail": skip.detail}
        )
        if skip.key is not None:
            logger.debug(
                "Skipped key", extra={"message_id": message_id, "reason": skip.reason, "key": skip.key}
            )


def _log_summary(
    message_count: int,
    parsed: Mapping[str, tuple[SQSRecord, ParsedMessage]],
    plan: BatchPlan | None,
    response: PartialItemFailureResponse,
) -> None:
    skipped = Counter(str(skip.reason) for _, result in parsed.values() for skip in result.skipped)
    logger.info(
        "Batch processed",
        extra={
            "batch_id": plan.batch_id if plan else None,
            "message_count": message_count,
            "malformed_count": message_count - len(parsed),
            "image_count": len(plan.entries) if plan else 0,
            "skipped_counts": dict(skipped),
            "failed_message_ids": [item["itemIdentifier"] for item in response["batchItemFailures"]],
        },
    )
