"""Props of the Ingest construct: the upload queue, its dead-letter queue and the ingest Lambda."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import ConfigError, require_between, require_match, require_positive, require_prefix

#: AWS account that publishes the public Powertools for AWS Lambda (Python) layers.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
#: Log levels the Lambda's Powertools Logger accepts (Python logging names, any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
#: SQS visibility timeout must cover the function timeout (AWS recommends 6x) plus the batching window.
VISIBILITY_FACTOR = 6
#: SQS queue and Lambda function names.
_QUEUE_NAME = (r"[A-Za-z0-9_-]{1,80}", "1-80 characters of A-Z a-z 0-9 _ -")
_FUNCTION_NAME = (r"[A-Za-z0-9_-]{1,64}", "1-64 characters of A-Z a-z 0-9 _ -")


def powertools_layer_arn(region: str, version: int) -> str:
    """ARN of the AWS-managed Powertools v3 layer for Python 3.11 on x86_64 in ``region``."""
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python311-x86_64:{version}"
    )


@dataclass(frozen=True)
class IngestProps:
    """S3 notifications batched through SQS into one manifest and one pipeline execution per batch."""

    #: Name of the upload queue. Pattern ``[A-Za-z0-9_-]{1,80}``. Default ``fruits-uploads``.
    queue_name: str = shared.DEFAULT_NAMES.upload_queue
    #: Name of its dead-letter queue. Pattern ``[A-Za-z0-9_-]{1,80}``. Default ``fruits-uploads-dlq``.
    dead_letter_queue_name: str = shared.DEFAULT_NAMES.upload_dlq
    #: Name of the ingest Lambda. Pattern ``[A-Za-z0-9_-]{1,64}``. Default ``fruits-ingest``.
    function_name: str = shared.DEFAULT_NAMES.ingest_function
    #: Name of the feature pipeline's state machine: the Lambda reads its executions' status.
    #: Default ``fruits-feature-pipeline``.
    state_machine_name: str = shared.DEFAULT_NAMES.state_machine
    #: Uploads under this prefix of the ingestion bucket notify the queue. Pattern ``name/``.
    #: Default ``uploads/``.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: Curated (labelled) data under this prefix of the ingestion bucket notify the queue too; their
    #: folder is their label. Pattern ``name/``. Default ``curated/``.
    curated_prefix: str = shared.CURATED_PREFIX
    #: The Lambda writes manifests under this prefix of the artifacts bucket. Pattern ``name/``.
    #: Default ``manifests/``.
    manifests_prefix: str = shared.MANIFESTS_PREFIX
    #: Larger uploads are left out of a batch (bytes). Positive. Default 52428800 (50 MiB).
    max_object_bytes: int = shared.MAX_OBJECT_BYTES
    #: Seconds uploads wait to share a job: each job pays its workers' 1-minute minimums, so the window
    #: sets the bill of a steady upload stream (docs/cost-model.md). 0-300 (SQS event source). Default 120.
    batch_window_seconds: int = 120
    #: At most this many uploads per job (messages of ~1.5 KB stay inside the 6 MB event payload).
    #: 1-10000 (SQS event source); above 10 needs a window of at least 1 s. Default 1000.
    batch_size: int = 1000
    #: Concurrent Lambda invocations the queue drives. 2-1000 (SQS event source). Default 2.
    ingest_max_concurrency: int = 2
    #: The Lambda's timeout (seconds). 1-900 (Lambda). Default 60.
    ingest_timeout_seconds: int = 60
    #: Receives of a message before it moves to the dead-letter queue. 1-1000 (SQS). Default 5.
    dlq_max_receive_count: int = 5
    #: Version of the AWS-managed layer ``AWSLambdaPowertoolsPythonV3-python311-x86_64``. Positive.
    #: Default 24.
    powertools_layer_version: int = 24
    #: Log level of the Lambda's Powertools Logger. One of :data:`LOG_LEVELS`. Default ``INFO``.
    powertools_log_level: str = "INFO"
    #: Days the Lambda's CloudWatch logs are kept (rounded up to a CloudWatch period). Positive. Default 30.
    log_retention_days: int = shared.LOG_RETENTION_DAYS

    def __post_init__(self) -> None:
        for name in ("queue_name", "dead_letter_queue_name"):
            require_match(self, name, *_QUEUE_NAME)
        require_match(self, "function_name", *_FUNCTION_NAME)
        require_prefix(self, "uploads_prefix", "curated_prefix", "manifests_prefix")
        require_positive(self, "max_object_bytes", "powertools_layer_version", "log_retention_days")
        require_between(self, "batch_window_seconds", 0, 300, "SQS event source limit")
        require_between(self, "batch_size", 1, 10000, "SQS event source limit")
        if self.batch_size > 10 and self.batch_window_seconds < 1:
            raise ConfigError("batch_size above 10 needs batch_window_seconds >= 1")
        require_between(self, "ingest_max_concurrency", 2, 1000, "SQS event source limit")
        require_between(self, "ingest_timeout_seconds", 1, 900, "Lambda limit")
        require_between(self, "dlq_max_receive_count", 1, 1000, "SQS limit")
        if self.powertools_log_level.upper() not in LOG_LEVELS:
            raise ConfigError(
                f"powertools_log_level {self.powertools_log_level!r} must be one of {', '.join(LOG_LEVELS)}"
            )

    @property
    def visibility_timeout_seconds(self) -> int:
        """The upload queue's visibility timeout: covers six Lambda timeouts plus the batching window."""
        return VISIBILITY_FACTOR * self.ingest_timeout_seconds + self.batch_window_seconds
