"""Props of the Answer construct: the instant-answer Lambda, its EventBridge trigger and its failure path."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import ConfigError, require_between, require_match, require_positive, require_prefix
from spark_app.core.defaults import CONFIDENCE_THRESHOLD

#: Lambda architectures (``answer_architecture``); the image is built for the one chosen.
ARCHITECTURES = ("x86_64", "arm64")
#: Log levels the Lambda's Powertools Logger accepts (Python logging names, any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
_FUNCTION_NAME = (r"[A-Za-z0-9_-]{1,64}", "1-64 characters of A-Z a-z 0-9 _ -")
_QUEUE_NAME = (r"[A-Za-z0-9_-]{1,80}", "1-80 characters of A-Z a-z 0-9 _ -")
_RULE_NAME = (r"[A-Za-z0-9._-]{1,64}", "1-64 characters of A-Z a-z 0-9 . _ -")


@dataclass(frozen=True)
class AnswerProps:
    """Each upload answered as soon as it lands, by the batch's core code in a container-image Lambda."""

    #: Name of the answer Lambda. Pattern ``[A-Za-z0-9_-]{1,64}``. Default ``fruits-answer``.
    function_name: str = shared.DEFAULT_NAMES.answer_function
    #: Name of the EventBridge rule matching uploads. Pattern ``[A-Za-z0-9._-]{1,64}``.
    #: Default ``fruits-answer-uploads``.
    rule_name: str = shared.DEFAULT_NAMES.answer_rule
    #: Name of the dead-letter queue of events that could not be answered (the batch answers them).
    #: Pattern ``[A-Za-z0-9_-]{1,80}``. Default ``fruits-answer-dlq``.
    dead_letter_queue_name: str = shared.DEFAULT_NAMES.answer_dlq
    #: Objects created under this prefix of the ingestion bucket are answered. Pattern ``name/``.
    #: Default ``uploads/``.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: Answers go under this prefix of the results bucket (the batch's too). Pattern ``name/``.
    #: Default ``answers/``.
    answers_prefix: str = shared.ANSWERS_PREFIX
    #: The PCA registry (artifacts bucket) whose LATEST is followed. Pattern ``name/``.
    #: Default ``pca-models/``.
    pca_models_prefix: str = shared.PCA_MODELS_PREFIX
    #: The classifier registry (artifacts bucket) whose LATEST is followed. Pattern ``name/``.
    #: Default ``classifiers/``.
    classifiers_prefix: str = shared.CLASSIFIERS_PREFIX
    #: Larger uploads get an error answer (bytes): the batch's limit. Positive. Default 52428800 (50 MiB).
    max_object_bytes: int = shared.MAX_OBJECT_BYTES
    #: Below this confidence the answer is ``unknown``: the batch's threshold. In (0, 1]. Default 0.5.
    confidence_threshold: float = CONFIDENCE_THRESHOLD
    #: Memory (MB), hence CPU (1,769 MB = 1 vCPU): chosen from the measured time and cost per answer
    #: (docs/cost-model.md, section 7). 128-10240 (Lambda). Default 1769.
    answer_memory_mb: int = 1769
    #: ``x86_64`` (the batch's architecture: its features are the ones tested equal) or ``arm64``
    #: (20 % cheaper per GB-second, unmeasured here). Default ``x86_64``.
    answer_architecture: str = "x86_64"
    #: The Lambda's timeout (seconds): a cold start plus a 12 MP photo take a few seconds. 1-900. Default 30.
    answer_timeout_seconds: int = 30
    #: Reserved concurrency: the most answers computed at once (events above it wait in Lambda's queue,
    #: then go to the dead-letter queue and the batch). 1-1000. Default 10.
    answer_max_concurrency: int = 10
    #: Seconds a warm container trusts the LATEST pointers it read (a promotion reaches the answers at most
    #: this long after it). 0-3600. Default 60.
    answer_models_ttl_seconds: int = 60
    #: Retries of EventBridge's delivery to the Lambda. 0-185 (EventBridge). Default 3.
    answer_delivery_retries: int = 3
    #: Retries of a failed invocation by Lambda's asynchronous queue. 0-2 (Lambda). Default 2.
    answer_invoke_retries: int = 2
    #: Oldest event still worth answering (seconds): later the batch answers. 60-21600 (Lambda's
    #: asynchronous queue; EventBridge accepts up to 86400). Default 300.
    answer_max_event_age_seconds: int = 300
    #: Log level of the Lambda's Powertools Logger. One of :data:`LOG_LEVELS`. Default ``INFO``.
    powertools_log_level: str = "INFO"
    #: Days the Lambda's CloudWatch logs are kept (rounded up to a CloudWatch period). Positive. Default 30.
    log_retention_days: int = shared.LOG_RETENTION_DAYS

    def __post_init__(self) -> None:
        require_match(self, "function_name", *_FUNCTION_NAME)
        require_match(self, "rule_name", *_RULE_NAME)
        require_match(self, "dead_letter_queue_name", *_QUEUE_NAME)
        require_prefix(self, "uploads_prefix", "answers_prefix", "pca_models_prefix", "classifiers_prefix")
        require_positive(self, "max_object_bytes", "log_retention_days")
        if not 0 < self.confidence_threshold <= 1:
            raise ConfigError(f"confidence_threshold must be in (0, 1], got {self.confidence_threshold!r}")
        require_between(self, "answer_memory_mb", 128, 10240, "Lambda limit")
        if self.answer_architecture not in ARCHITECTURES:
            choices = ", ".join(ARCHITECTURES)
            raise ConfigError(f"answer_architecture {self.answer_architecture!r} must be one of {choices}")
        require_between(self, "answer_timeout_seconds", 1, 900, "Lambda limit")
        require_between(self, "answer_max_concurrency", 1, 1000, "reserved concurrency")
        require_between(self, "answer_models_ttl_seconds", 0, 3600)
        require_between(self, "answer_delivery_retries", 0, 185, "EventBridge retry policy")
        require_between(self, "answer_invoke_retries", 0, 2, "Lambda asynchronous invocation")
        require_between(self, "answer_max_event_age_seconds", 60, 21600, "Lambda asynchronous invocation")
        if self.powertools_log_level.upper() not in LOG_LEVELS:
            choices = ", ".join(LOG_LEVELS)
            raise ConfigError(f"powertools_log_level {self.powertools_log_level!r} must be one of {choices}")
