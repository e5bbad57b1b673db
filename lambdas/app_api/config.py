"""Configuration of the app API Lambda (environment variables) and its routes.

The variable names and route keys are constants here so that the CDK app imports them instead of
repeating the strings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.ingest.config import ConfigError, normalise_prefix
from spark_app.core.defaults import MAX_FILE_BYTES

#: The HTTP API's routes (``routeKey`` in the event): ask for an upload grant, commit the upload, then
#: confirm or correct the label of its answer; and erase everything of the caller.
ROUTE_REQUEST_UPLOAD = "POST /photos"
ROUTE_COMMIT_UPLOAD = "POST /photos/{photo_id}/commit"
ROUTE_CORRECT_PHOTO = "POST /photos/{photo_id}/correction"
#: Erase everything of the calling identity (``erasure.py``).
ROUTE_ERASE_ME = "DELETE /me"
ROUTES: tuple[str, ...] = (ROUTE_REQUEST_UPLOAD, ROUTE_COMMIT_UPLOAD, ROUTE_CORRECT_PHOTO, ROUTE_ERASE_ME)

ENV_INGESTION_BUCKET = "INGESTION_BUCKET"
ENV_STAGING_PREFIX = "STAGING_PREFIX"
ENV_UPLOADS_PREFIX = "UPLOADS_PREFIX"
ENV_RESULTS_BUCKET = "RESULTS_BUCKET"
ENV_ANSWERS_PREFIX = "ANSWERS_PREFIX"
ENV_IDENTITY_TABLE = "IDENTITY_TABLE"
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
ENV_GRANT_SECONDS = "UPLOAD_GRANT_SECONDS"
ENV_UPLOADS_PER_WINDOW = "UPLOADS_PER_WINDOW"
ENV_QUOTA_WINDOW_SECONDS = "QUOTA_WINDOW_SECONDS"
ENV_COMMIT_RECORD_SECONDS = "COMMIT_RECORD_SECONDS"
#: The feature store (``s3://<results>/features-store``): corrections go to ``<store>/corrections/``.
ENV_FEATURE_STORE = "FEATURE_STORE"
#: The classifier registry (``s3://<artifacts>/classifiers``): its promoted version names the known classes.
ENV_CLASSIFIER_DIR = "CLASSIFIER_DIR"
#: The erasure state machine ``DELETE /me`` starts (cdk_app/erasure.py sets it).
ENV_ERASURE_STATE_MACHINE_ARN = "ERASURE_STATE_MACHINE_ARN"
#: Read by AWS Lambda Powertools itself (service name and log level of the Logger).
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

DEFAULT_SERVICE_NAME = "fruits-app-api"
DEFAULT_STAGING_PREFIX = "incoming/"
DEFAULT_GRANT_SECONDS = 300
DEFAULT_UPLOADS_PER_WINDOW = 60
DEFAULT_QUOTA_WINDOW_SECONDS = 3600
#: How long the record of a committed photo id is kept (it refuses a reused grant): two days, longer
#: than a grant plus the day a staged object may wait before the bucket's lifecycle deletes it.
DEFAULT_COMMIT_RECORD_SECONDS = 2 * 86400

REQUIRED_ENV_VARS: tuple[str, ...] = (ENV_INGESTION_BUCKET, ENV_RESULTS_BUCKET, ENV_IDENTITY_TABLE)


@dataclass(frozen=True)
class AppApiConfig:
    """Settings of one invocation."""

    ingestion_bucket: str
    results_bucket: str
    identity_table: str
    staging_prefix: str = DEFAULT_STAGING_PREFIX
    uploads_prefix: str = "uploads/"
    answers_prefix: str = "answers/"
    max_object_bytes: int = MAX_FILE_BYTES
    grant_seconds: int = DEFAULT_GRANT_SECONDS
    uploads_per_window: int = DEFAULT_UPLOADS_PER_WINDOW
    quota_window_seconds: int = DEFAULT_QUOTA_WINDOW_SECONDS
    commit_record_seconds: int = DEFAULT_COMMIT_RECORD_SECONDS
    feature_store: str | None = None  # None: the correction route answers 503
    classifier_dir: str | None = None
    erasure_state_machine_arn: str | None = None  # None: DELETE /me answers 503


_INTEGERS = {
    "max_object_bytes": ENV_MAX_OBJECT_BYTES,
    "grant_seconds": ENV_GRANT_SECONDS,
    "uploads_per_window": ENV_UPLOADS_PER_WINDOW,
    "quota_window_seconds": ENV_QUOTA_WINDOW_SECONDS,
    "commit_record_seconds": ENV_COMMIT_RECORD_SECONDS,
}


def load_config(environ: Mapping[str, str] | None = None) -> AppApiConfig:
    """Read the configuration; raises ConfigError naming every missing or invalid variable."""
    env = os.environ if environ is None else environ
    missing = [name for name in REQUIRED_ENV_VARS if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
    numbers: dict[str, int] = {}
    for field, name in _INTEGERS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        if not raw.isdigit() or int(raw) <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
        numbers[field] = int(raw)
    prefixes = {
        field: normalise_prefix(env[name])
        for field, name in (
            ("staging_prefix", ENV_STAGING_PREFIX),
            ("uploads_prefix", ENV_UPLOADS_PREFIX),
            ("answers_prefix", ENV_ANSWERS_PREFIX),
        )
        if env.get(name, "").strip()
    }
    uris = {
        field: env[name].strip().rstrip("/")
        for field, name in (("feature_store", ENV_FEATURE_STORE), ("classifier_dir", ENV_CLASSIFIER_DIR))
        if env.get(name, "").strip()
    }
    return AppApiConfig(
        ingestion_bucket=env[ENV_INGESTION_BUCKET].strip(),
        results_bucket=env[ENV_RESULTS_BUCKET].strip(),
        identity_table=env[ENV_IDENTITY_TABLE].strip(),
        **prefixes,
        **numbers,
        **uris,
        erasure_state_machine_arn=env.get(ENV_ERASURE_STATE_MACHINE_ARN, "").strip() or None,
    )
