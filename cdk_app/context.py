"""Reading settings from CDK context (``-c key=value``, cdk.json): type conversion, unknown keys refused.

CDK itself keeps more in the context than our settings: its feature flags (cdk.json), what the CLI and
``App`` inject, and cached lookups (cdk.context.json). Those pass; any other key that is not a setting is
a typo or a stale setting, refused with the closest setting's name (a silently ignored ``-c regoin=...``
would deploy to the default region).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any

from cdk_app.validation import ConfigError

#: Key prefixes CDK owns: feature flags (``@aws-cdk/...``, ``@aws-cdk-containers/...``) and the settings
#: the CLI and ``App`` inject (``aws:cdk:enable-path-metadata``, ``aws-cdk:enableDiffNoFail``, ``cdk-...``).
CDK_KEY_PREFIXES = ("@aws-cdk", "aws:cdk:", "aws-cdk:", "cdk-")
#: Keys the CDK CLI itself writes into cdk.context.json or cdk.json (``cdk acknowledge``,
#: ``cdk cli-telemetry``).
CDK_CLI_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})
#: Cached context lookups (cdk.context.json): ``<provider>:<prop>=<value>:...``, e.g.
#: ``availability-zones:account=111122223333:region=eu-west-1``.
_LOOKUP_KEY = re.compile(r"[a-z][a-z0-9-]*:[A-Za-z]\w*=")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def is_cdk_key(key: str) -> bool:
    """True for a context key that belongs to CDK (feature flag, CLI setting, cached lookup)."""
    return key.startswith(CDK_KEY_PREFIXES) or key in CDK_CLI_KEYS or bool(_LOOKUP_KEY.match(key))


def check_keys(context: Mapping[str, Any], settings: Collection[str]) -> None:
    """Raise ConfigError (one line) naming every key that is neither a setting nor CDK's own."""
    unknown = [key for key in context if key not in settings and not is_cdk_key(key)]
    if not unknown:
        return
    described = ", ".join(_describe(key, settings) for key in unknown)
    raise ConfigError(
        f"unknown context key{'s' if len(unknown) > 1 else ''} {described}: the settings are the fields "
        "of PipelineConfig (cdk_app/config.py; docs/architecture.md, Configuration)"
    )


def _describe(key: str, settings: Collection[str]) -> str:
    close = difflib.get_close_matches(key.lower(), list(settings), n=1)
    return f"{key!r} (did you mean {close[0]!r}?)" if close else f"{key!r} (no setting has a similar name)"


def overrides(context: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The settings ``context`` sets, converted to the type of their default; unknown keys refused.

    ``defaults`` maps each setting to its default value. A ``null`` value (cdk.json) keeps the default.
    """
    check_keys(context, defaults)
    return {
        name: convert(name, context[name], type(default))
        for name, default in defaults.items()
        if context.get(name) is not None
    }


def convert(name: str, raw: Any, target: type) -> Any:
    """Convert a context value (often a string from ``-c key=value``) to the setting's type."""
    try:
        if target is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(raw)
        if target is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if target is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"context {name}={raw!r} is not a valid {target.__name__}") from None
