"""Props of the Storage construct: the key prefixes its lifecycle rules target and the retention periods."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import require_positive, require_prefix


@dataclass(frozen=True)
class StorageProps:
    """Lifecycle of the four buckets (GDPR: raw uploads and the data naming them are kept briefly)."""

    #: Key prefix of raw uploads in the ingestion bucket. Pattern ``name/``. Default ``uploads/``.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: Key prefix of the app's staged photos in the ingestion bucket (before their commit). Pattern
    #: ``name/``. Default ``incoming/``.
    staging_prefix: str = shared.STAGING_PREFIX
    #: Key prefix of batch manifests in the artifacts bucket. Pattern ``name/``. Default ``manifests/``.
    manifests_prefix: str = shared.MANIFESTS_PREFIX
    #: Key prefix of EMR job logs in the artifacts bucket. Pattern ``name/``. Default ``emr-logs/``.
    emr_logs_prefix: str = shared.EMR_LOGS_PREFIX
    #: Key prefix of the per-upload answers in the results bucket. Pattern ``name/``. Default ``answers/``.
    answers_prefix: str = shared.ANSWERS_PREFIX
    #: Days before a raw upload expires. Positive. Default 7.
    upload_retention_days: int = 7
    #: Days before a staged photo that was never committed expires. Positive. Default 1.
    staging_retention_days: int = 1
    #: Days before an answer expires (it names the upload's key and its fruit). Positive. Default 30.
    answer_retention_days: int = 30
    #: Days before a manifest (a list of upload keys) expires. Positive. Default 30.
    manifest_retention_days: int = 30
    #: Days before an EMR job log expires. Positive. Default 30.
    log_retention_days: int = shared.LOG_RETENTION_DAYS
    #: Days before an S3 server access log expires. Positive. Default 90.
    access_log_retention_days: int = 90
    #: Days before a non-current object version (results, artifacts) expires. Positive. Default 30.
    noncurrent_version_retention_days: int = 30
    #: Days before an incomplete multipart upload is aborted, in every bucket. Positive. Default 1.
    abort_multipart_days: int = 1

    def __post_init__(self) -> None:
        require_prefix(
            self, "uploads_prefix", "staging_prefix", "manifests_prefix", "emr_logs_prefix", "answers_prefix"
        )
        require_positive(
            self,
            "upload_retention_days",
            "staging_retention_days",
            "answer_retention_days",
            "manifest_retention_days",
            "log_retention_days",
            "access_log_retention_days",
            "noncurrent_version_retention_days",
            "abort_multipart_days",
        )
