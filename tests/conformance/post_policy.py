"""An offline checker of S3 browser-based (form) POST uploads, written from S3's documentation.

Sources (Amazon S3 API Reference, "Authenticating Requests in Browser-Based Uploads Using POST (AWS
Signature Version 4)", and its "POST Policy" and "Calculating a Signature" pages):

- the form's ``policy`` is base64 of a JSON document with ``expiration`` (ISO 8601, UTC) and
  ``conditions``; a request after the expiration is refused;
- each form field except ``x-amz-signature``, ``file``, ``policy`` and ``x-ignore-*`` must be named by a
  condition, and every condition must hold: exact match ``{"field": "value"}`` or ``["eq", "$field",
  "value"]``, ``["starts-with", "$field", "prefix"]``, ``["content-length-range", min, max]`` on the
  file's size in bytes; ``bucket`` is the bucket the form is POSTed to;
- ``x-amz-signature`` is the hex HMAC-SHA256 of the base64 policy with the SigV4 signing key of the
  credential scope ``<key id>/<date>/<region>/s3/aws4_request`` (so a changed policy is refused).

moto accepts any form (it enforces none of this); on AWS, S3 itself does. This checker is what the
conformance suite uses to prove, offline, that the upload grants refuse oversize, empty, wrong-type,
expired and out-of-prefix uploads. The IAM side (the request is authorized as the signer, the API
Lambda's role) is evaluated separately by the IAM simulator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

#: Form fields that need no condition (S3 API Reference, POST Policy, Conditions).
EXEMPT = ("x-amz-signature", "file", "policy")
EXEMPT_PREFIX = "x-ignore-"
ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class FormUpload:
    """One browser-based POST: the URL, the form's fields, the file's size, when it reaches S3."""

    url: str
    fields: dict[str, str]
    size: int
    at: datetime

    @property
    def bucket(self) -> str:
        """The bucket the form is POSTed to (virtual-hosted ``<bucket>.s3.<region>...`` or path style)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ".s3." in host or host.endswith(".s3.amazonaws.com"):
            return host.split(".s3.", 1)[0]
        return parts.path.strip("/").split("/", 1)[0]

    def with_fields(self, **changes: str) -> FormUpload:
        return replace(self, fields={**self.fields, **changes})


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """The SigV4 signing key of a credential scope."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign_policy(policy_b64: str, secret: str, credential: str) -> str:
    """The ``x-amz-signature`` of a base64 policy for ``x-amz-credential``."""
    _, date, region, service, _ = credential.split("/")
    return hmac.new(
        signing_key(secret, date, region, service), policy_b64.encode(), hashlib.sha256
    ).hexdigest()


def check_form(upload: FormUpload, *, secret: str) -> list[str]:
    """Why S3 would refuse this form POST (empty when it accepts it)."""
    fields = {name.lower(): value for name, value in upload.fields.items()}
    missing = [
        f
        for f in ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
        if f not in fields
    ]
    if missing:
        return [f"missing form field(s): {', '.join(missing)}"]
    problems = []
    if fields["x-amz-algorithm"] != ALGORITHM:
        problems.append(f"x-amz-algorithm is {fields['x-amz-algorithm']!r}, not {ALGORITHM}")
    if not hmac.compare_digest(
        sign_policy(fields["policy"], secret, fields["x-amz-credential"]), fields["x-amz-signature"]
    ):
        problems.append(
            "signature does not match the policy (the policy was changed or signed by another key)"
        )
    try:
        policy = json.loads(base64.b64decode(fields["policy"]))
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        conditions = policy["conditions"]
    except (ValueError, KeyError, TypeError):
        return [*problems, "policy is not a JSON document with expiration and conditions"]
    if upload.at.astimezone(UTC) >= expiration:
        problems.append(f"policy expired at {policy['expiration']} (request at {upload.at.isoformat()})")
    values = {**fields, "bucket": upload.bucket}
    named: set[str] = set()
    for condition in conditions:
        name, problem = _check(condition, values, upload.size)
        if name:
            named.add(name)
        if problem:
            problems.append(problem)
    unnamed = [f for f in fields if f not in EXEMPT and not f.startswith(EXEMPT_PREFIX) and f not in named]
    problems += [f"form field {f!r} is not named by any policy condition" for f in unnamed]
    return problems


def _check(condition: Any, values: dict[str, str], size: int) -> tuple[str | None, str | None]:
    """(the field a condition names, why it fails or None)."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, expected),) = condition.items()
        return _match(name.lower(), "eq", str(expected), values)
    if isinstance(condition, list) and condition and condition[0] == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        problem = (
            None
            if low <= size <= high
            else f"file is {size} bytes, outside content-length-range [{low}, {high}]"
        )
        return None, problem
    if isinstance(condition, list) and len(condition) == 3 and condition[0] in ("eq", "starts-with"):
        return _match(str(condition[1]).lstrip("$").lower(), condition[0], str(condition[2]), values)
    return None, f"unknown policy condition {condition!r}"


def _match(name: str, operator: str, expected: str, values: dict[str, str]) -> tuple[str, str | None]:
    if name not in values:
        return name, f"condition on {name!r} but the form has no such field"
    actual = values[name]
    holds = actual == expected if operator == "eq" else actual.startswith(expected)
    return name, None if holds else f"{name} is {actual!r}; the policy requires {operator} {expected!r}"


def policy_of(upload: FormUpload) -> dict[str, Any]:
    """The decoded policy document of a form."""
    return json.loads(base64.b64decode(upload.fields["policy"]))


def with_policy(upload: FormUpload, policy: dict[str, Any]) -> FormUpload:
    """The form with another policy document (its signature unchanged: a tampered form)."""
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    return upload.with_fields(policy=encoded)


def now() -> datetime:
    return datetime.now(UTC)
