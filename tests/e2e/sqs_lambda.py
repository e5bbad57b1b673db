"""The Lambda service's SQS event source mapping, emulated around the real handler.

Receive up to the batch size, build the SQS event exactly as Lambda does, invoke the handler,
delete the acknowledged messages (those not in ``batchItemFailures``) and let the failed ones be
received again. moto has no event source mappings, so this loop plays that part.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: SQS returns at most 10 messages per ReceiveMessage call.
MAX_PER_RECEIVE = 10
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass(frozen=True)
class Invocation:
    """One handler invocation: the messages it got, those it failed, and whether acks were dropped."""

    message_ids: tuple[str, ...]
    failed_ids: tuple[str, ...]
    response: dict[str, Any]
    acknowledgements_dropped: bool = False


def sqs_event(messages: list[dict[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from received SQS messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass
class EventSourceMapping:
    """SQS queue -> handler, with ``ReportBatchItemFailures`` semantics."""

    sqs: Any
    queue_url: str
    queue_arn: str
    region: str
    batch_size: int
    handler: Handler
    context: Callable[[], Any]

    def receive_batch(self) -> list[dict[str, Any]]:
        """Everything available, up to the batch size (like a batching window that has closed)."""
        batch: list[dict[str, Any]] = []
        while len(batch) < self.batch_size:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_PER_RECEIVE, self.batch_size - len(batch)),
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            if not received:
                break
            batch += received
        return batch

    def invoke(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Invoke the handler on one batch; returns its partial-failure response."""
        event = sqs_event(messages, queue_arn=self.queue_arn, region=self.region)
        return self.handler(event, self.context())

    def settle(self, messages: list[dict[str, Any]], failed_ids: set[str], *, drop_acks: bool) -> None:
        """Delete acknowledged messages; failed ones (or all, when acks are dropped) become visible again.

        On AWS they reappear after the visibility timeout; here at once, so the flow does not wait.
        """
        for message in messages:
            if drop_acks or message["MessageId"] in failed_ids:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        acknowledged = [m for m in messages if not drop_acks and m["MessageId"] not in failed_ids]
        for start in range(0, len(acknowledged), MAX_PER_RECEIVE):
            chunk = acknowledged[start : start + MAX_PER_RECEIVE]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def drain(
        self, *, drop_first_acknowledgements: bool = False, max_invocations: int = 50
    ) -> list[Invocation]:
        """Invoke the handler until the queue is empty.

        ``drop_first_acknowledgements`` simulates a duplicate delivery: the first batch is processed
        but not deleted (as when the function times out after starting the execution), so SQS
        delivers the same messages again.
        """
        invocations: list[Invocation] = []
        while len(invocations) < max_invocations:
            messages = self.receive_batch()
            if not messages:
                return invocations
            response = self.invoke(messages)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            drop = drop_first_acknowledgements and not invocations
            self.settle(messages, failed, drop_acks=drop)
            invocations.append(
                Invocation(
                    message_ids=tuple(m["MessageId"] for m in messages),
                    failed_ids=tuple(sorted(failed)),
                    response=response,
                    acknowledgements_dropped=drop,
                )
            )
        raise RuntimeError(f"the queue is still not empty after {max_invocations} invocations")
