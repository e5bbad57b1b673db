"""Props of the AppAccess construct: the app's identities, its API, the API's Lambda and its limits."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.ingest_props import LOG_LEVELS
from cdk_app.validation import ConfigError, require_between, require_match, require_positive, require_prefix
from lambdas.app_api import config as app_api_config

#: API Gateway HTTP APIs time an integration out after 30 s: the Lambda must answer before.
MAX_FUNCTION_TIMEOUT_SECONDS = 29


@dataclass(frozen=True)
class AppAccessProps:
    """Cognito guest identities, the IAM-authorized HTTP API they call, and what each identity may do."""

    #: Name of the Cognito identity pool. Pattern ``[\\w\\s+=,.@-]{1,128}``. Default ``fruits-app``.
    identity_pool_name: str = shared.DEFAULT_NAMES.identity_pool
    #: Name of the HTTP API. 1-128 characters. Default ``fruits-app-api``.
    api_name: str = shared.DEFAULT_NAMES.app_api
    #: Name of the API's Lambda. Pattern ``[A-Za-z0-9_-]{1,64}``. Default ``fruits-app-api``.
    function_name: str = shared.DEFAULT_NAMES.app_api_function
    #: Name of the identity table (quota counters, commit records). Pattern ``[A-Za-z0-9_.-]{3,255}``.
    #: Default ``fruits-app-identities``.
    identity_table_name: str = shared.DEFAULT_NAMES.identity_table
    #: Committed photos go under this prefix of the ingestion bucket (the pipeline ingests them).
    #: Pattern ``name/``. Default ``uploads/``.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: Photos are staged under this prefix of the ingestion bucket until their commit. Pattern ``name/``.
    #: Default ``incoming/``.
    staging_prefix: str = shared.STAGING_PREFIX
    #: Answers are read under this prefix of the results bucket. Pattern ``name/``. Default ``answers/``.
    answers_prefix: str = shared.ANSWERS_PREFIX
    #: The feature store's prefix in the results bucket: corrections go to ``<it>corrections/``.
    #: Pattern ``name/``. Default ``features-store/``.
    features_prefix: str = shared.FEATURES_PREFIX
    #: The classifier registry's prefix in the artifacts bucket (its promoted version names the classes a
    #: correction may use). Pattern ``name/``. Default ``classifiers/``.
    classifiers_prefix: str = shared.CLASSIFIERS_PREFIX
    #: Largest photo accepted (bytes): the pipeline's per-object limit. Positive. Default 52428800.
    max_object_bytes: int = shared.MAX_OBJECT_BYTES
    #: Seconds an upload form stays valid. 10-3600. Default 300.
    upload_grant_seconds: int = app_api_config.DEFAULT_GRANT_SECONDS
    #: Upload grants per identity in one quota window. 1-100000. Default 60.
    uploads_per_identity: int = app_api_config.DEFAULT_UPLOADS_PER_WINDOW
    #: Length of the per-identity quota window in seconds. 60-86400. Default 3600.
    quota_window_seconds: int = app_api_config.DEFAULT_QUOTA_WINDOW_SECONDS
    #: Steady requests per second the whole API accepts (stage throttling, all identities together).
    #: 1-10000. Default 5.
    app_api_rate_limit: int = 5
    #: Requests the whole API accepts in a burst above the steady rate. 1-5000. Default 10.
    app_api_burst_limit: int = 10
    #: The API Lambda's timeout (seconds). 1-29 (the HTTP API waits 30 s at most). Default 10.
    app_api_timeout_seconds: int = 10
    #: Version of the AWS-managed layer ``AWSLambdaPowertoolsPythonV3-python311-x86_64``. Positive.
    #: Default 24.
    powertools_layer_version: int = 24
    #: Log level of the Lambda's Powertools Logger. One of the ingest Lambda's levels. Default ``INFO``.
    powertools_log_level: str = "INFO"
    #: Days the Lambda's and the API's CloudWatch logs are kept (rounded up to a CloudWatch period).
    #: Positive. Default 30.
    log_retention_days: int = shared.LOG_RETENTION_DAYS

    def __post_init__(self) -> None:
        require_match(
            self, "identity_pool_name", r"[\w\s+=,.@-]{1,128}", "1-128 characters of \\w, space, +=,.@-"
        )
        require_match(self, "api_name", r".{1,128}", "1-128 characters")
        require_match(self, "function_name", r"[A-Za-z0-9_-]{1,64}", "1-64 characters of A-Z a-z 0-9 _ -")
        require_match(
            self, "identity_table_name", r"[A-Za-z0-9_.-]{3,255}", "3-255 characters of A-Z a-z 0-9 _ . -"
        )
        require_prefix(
            self,
            "uploads_prefix",
            "staging_prefix",
            "answers_prefix",
            "features_prefix",
            "classifiers_prefix",
        )
        if self.uploads_prefix.startswith(self.staging_prefix) or self.staging_prefix.startswith(
            self.uploads_prefix
        ):
            raise ConfigError(
                f"staging_prefix {self.staging_prefix!r} and uploads_prefix {self.uploads_prefix!r} must not "
                "contain each other (staged photos must never be ingested)"
            )
        require_positive(self, "max_object_bytes", "powertools_layer_version", "log_retention_days")
        require_between(self, "upload_grant_seconds", 10, 3600)
        require_between(self, "uploads_per_identity", 1, 100000)
        require_between(self, "quota_window_seconds", 60, 86400)
        require_between(self, "app_api_rate_limit", 1, 10000, "API Gateway account default")
        require_between(self, "app_api_burst_limit", 1, 5000, "API Gateway account default")
        require_between(
            self, "app_api_timeout_seconds", 1, MAX_FUNCTION_TIMEOUT_SECONDS, "HTTP API integration timeout"
        )
        if self.powertools_log_level.upper() not in LOG_LEVELS:
            raise ConfigError(
                f"powertools_log_level {self.powertools_log_level!r} must be one of {', '.join(LOG_LEVELS)}"
            )
