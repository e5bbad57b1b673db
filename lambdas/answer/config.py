"""Configuration of the answer Lambda, read from environment variables once, at start.

The variable names are constants here so that the CDK app imports them instead of repeating the strings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from spark_app.core.defaults import CONFIDENCE_THRESHOLD, MAX_FILE_BYTES

ENV_ANSWERS_ROOT = "ANSWERS_ROOT"
ENV_PCA_MODEL_DIR = "PCA_MODEL_DIR"
ENV_CLASSIFIER_DIR = "CLASSIFIER_DIR"
ENV_UPLOADS_PREFIX = "UPLOADS_PREFIX"
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
ENV_CONFIDENCE_THRESHOLD = "CONFIDENCE_THRESHOLD"
ENV_MODELS_TTL_SECONDS = "MODELS_TTL_SECONDS"
#: The feature store (``s3://<results>/features-store``): its erasure tombstones stop answers (optional).
ENV_FEATURE_STORE = "FEATURE_STORE"
#: Read by AWS Lambda Powertools itself (service name and log level of the Logger).
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

#: How long a warm container trusts the LATEST pointers it read before reading them again (seconds): a
#: promotion reaches every answer at most this long after it happened, for two small GETs a minute.
DEFAULT_MODELS_TTL_SECONDS = 60
DEFAULT_SERVICE_NAME = "fruits-answer"

REQUIRED_ENV_VARS: tuple[str, ...] = (
    ENV_ANSWERS_ROOT,
    ENV_PCA_MODEL_DIR,
    ENV_CLASSIFIER_DIR,
    ENV_UPLOADS_PREFIX,
)


class ConfigError(RuntimeError):
    """A required environment variable is missing or a value is invalid."""


@dataclass(frozen=True)
class AnswerConfig:
    """Where the answer Lambda reads and writes, and its limits."""

    #: ``s3://<results>/answers``: an upload's answer is ``<root>/<upload key>.json`` (the batch's too).
    answers_root: str
    #: The registries whose LATEST the Lambda follows (``s3://<artifacts>/pca-models``, ``.../classifiers``).
    pca_model_dir: str
    classifier_dir: str
    #: Objects created under this prefix are answered (the EventBridge rule matches the same prefix).
    uploads_prefix: str
    max_object_bytes: int = MAX_FILE_BYTES
    confidence_threshold: float = CONFIDENCE_THRESHOLD
    models_ttl_seconds: float = DEFAULT_MODELS_TTL_SECONDS
    #: Where the erasure tombstones are (``<store>/erasure/tombstones``); None: no identity is checked.
    feature_store: str | None = None


def load_config(environ: Mapping[str, str] | None = None) -> AnswerConfig:
    """Read the configuration; raises ConfigError naming every missing or invalid variable."""
    env = os.environ if environ is None else environ
    missing = [name for name in REQUIRED_ENV_VARS if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
    return AnswerConfig(
        answers_root=env[ENV_ANSWERS_ROOT].strip(),
        pca_model_dir=env[ENV_PCA_MODEL_DIR].strip(),
        classifier_dir=env[ENV_CLASSIFIER_DIR].strip(),
        uploads_prefix=env[ENV_UPLOADS_PREFIX].strip(),
        max_object_bytes=_number(env, ENV_MAX_OBJECT_BYTES, MAX_FILE_BYTES, int, minimum=1),
        confidence_threshold=_number(env, ENV_CONFIDENCE_THRESHOLD, CONFIDENCE_THRESHOLD, float, minimum=0),
        models_ttl_seconds=_number(env, ENV_MODELS_TTL_SECONDS, DEFAULT_MODELS_TTL_SECONDS, float, minimum=0),
        feature_store=env.get(ENV_FEATURE_STORE, "").strip().rstrip("/") or None,
    )


def _number(env: Mapping[str, str], name: str, default: float, kind: type, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    problem = f"{name} must be {'a whole number' if kind is int else 'a number'} >= {minimum}, got {raw!r}"
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(problem) from None
    if value < minimum:
        raise ConfigError(problem)
    return value
