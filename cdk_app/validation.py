"""The configuration error and the checks every props class uses on its own fields (no aws_cdk here)."""

from __future__ import annotations

import re
from typing import Any

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """An invalid setting (the message says which and why)."""


def require_prefix(props: Any, *names: str) -> None:
    """Each named field must be an S3 key prefix like ``name/`` (ends with '/', does not start with one)."""
    for name in names:
        value = getattr(props, name)
        if not value.endswith("/") or value.startswith("/") or value == "/":
            raise ConfigError(f"{name} {value!r} must be a key prefix like 'name/'")


def require_glue_name(props: Any, name: str) -> None:
    """The named field must be a Glue database or table name Athena accepts: ``[a-z0-9_]{1,255}``."""
    require_match(props, name, r"[a-z0-9_]{1,255}", "1-255 characters of a-z, 0-9 and '_'")


def require_positive(props: Any, *names: str) -> None:
    """Each named field must be greater than zero."""
    for name in names:
        if getattr(props, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(props, name)!r}")


def require_between(props: Any, name: str, low: float, high: float, why: str = "") -> None:
    """The named field must lie in ``[low, high]``; ``why`` names the limit's source."""
    if not low <= getattr(props, name) <= high:
        reason = f" ({why})" if why else ""
        raise ConfigError(f"{name} must be between {low} and {high}{reason}, got {getattr(props, name)!r}")


def require_match(props: Any, name: str, pattern: str, what: str) -> None:
    """The named field must match ``pattern`` in full; ``what`` describes the expected form."""
    if not re.fullmatch(pattern, getattr(props, name)):
        raise ConfigError(f"{name} {getattr(props, name)!r} must be {what}")


def require_email_or_empty(props: Any, name: str) -> None:
    """The named field must be an e-mail address, or '' (none)."""
    value = getattr(props, name)
    if value and not _EMAIL_RE.match(value):
        raise ConfigError(f"{name} {value!r} is not an e-mail address")
