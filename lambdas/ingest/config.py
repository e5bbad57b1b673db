"""Configuration of the ingest Lambda, read from environment variables.

The variable names are constants here so that the CDK app can import them instead of
repeating the strings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from spark_app.core.defaults import MAX_FILE_BYTES

ENV_STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
ENV_MANIFEST_BUCKET = "MANIFEST_BUCKET"
ENV_MANIFEST_PREFIX = "MANIFEST_PREFIX"
ENV_UPLOADS_PREFIX = "UPLOADS_PREFIX"
ENV_CURATED_PREFIX = "CURATED_PREFIX"
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
#: Read by AWS Lambda Powertools itself (service name and log level of the Logger).
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

DEFAULT_MANIFEST_PREFIX = "manifests/"
DEFAULT_UPLOADS_PREFIX = "uploads/"
#: Labelled datasets loaded by the data team: ``<curated>/<Class>/<file>`` (the folder is the label).
DEFAULT_CURATED_PREFIX = "curated/"
#: The job's own per-object limit: the Lambda skips what the job would refuse.
DEFAULT_MAX_OBJECT_BYTES = MAX_FILE_BYTES
DEFAULT_SERVICE_NAME = "fruits-ingest"

REQUIRED_ENV_VARS: tuple[str, ...] = (ENV_STATE_MACHINE_ARN, ENV_MANIFEST_BUCKET)
OPTIONAL_ENV_VARS: tuple[str, ...] = (
    ENV_MANIFEST_PREFIX,
    ENV_UPLOADS_PREFIX,
    ENV_CURATED_PREFIX,
    ENV_MAX_OBJECT_BYTES,
)


class ConfigError(RuntimeError):
    """A required environment variable is missing or a value is invalid."""


@dataclass(frozen=True)
class IngestConfig:
    """Settings of one invocation."""

    state_machine_arn: str
    manifest_bucket: str
    manifest_prefix: str = DEFAULT_MANIFEST_PREFIX
    uploads_prefix: str = DEFAULT_UPLOADS_PREFIX
    curated_prefix: str = DEFAULT_CURATED_PREFIX
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES


def normalise_prefix(prefix: str) -> str:
    """Key prefix with exactly one trailing slash, or '' for the whole bucket."""
    stripped = prefix.strip().strip("/")
    return f"{stripped}/" if stripped else ""


def load_config(environ: Mapping[str, str] | None = None) -> IngestConfig:
    """Read the configuration; raises ConfigError naming every missing or invalid variable."""
    env = os.environ if environ is None else environ
    missing = [name for name in REQUIRED_ENV_VARS if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
    raw_max = env.get(ENV_MAX_OBJECT_BYTES, "").strip() or str(DEFAULT_MAX_OBJECT_BYTES)
    try:
        max_object_bytes = int(raw_max)
    except ValueError:
        raise ConfigError(f"{ENV_MAX_OBJECT_BYTES} must be a positive integer, got {raw_max!r}") from None
    if max_object_bytes <= 0:
        raise ConfigError(f"{ENV_MAX_OBJECT_BYTES} must be a positive integer, got {raw_max!r}")
    return IngestConfig(
        state_machine_arn=env[ENV_STATE_MACHINE_ARN].strip(),
        manifest_bucket=env[ENV_MANIFEST_BUCKET].strip(),
        manifest_prefix=normalise_prefix(env.get(ENV_MANIFEST_PREFIX, DEFAULT_MANIFEST_PREFIX)),
        uploads_prefix=normalise_prefix(env.get(ENV_UPLOADS_PREFIX, DEFAULT_UPLOADS_PREFIX)),
        curated_prefix=normalise_prefix(env.get(ENV_CURATED_PREFIX, DEFAULT_CURATED_PREFIX)),
        max_object_bytes=max_object_bytes,
    )
