"""The HTTP edge, pure: API Gateway's payload v2 event -> :class:`ApiRequest`; a reply -> v2 response.

Who calls is read from the IAM authorizer's ``requestContext.authorizer.iam.cognitoIdentity``: API
Gateway fills it when the request was signed (SigV4) with credentials of a Cognito identity, and this
API's routes accept nothing else. The identity id is never taken from the path, the body or a header.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Cognito's IdentityId pattern and length limit (Amazon Cognito Identity API Reference).
IDENTITY_ID = re.compile(r"[\w-]+:[0-9a-f-]+")
MAX_IDENTITY_ID_LENGTH = 55
JSON_HEADERS = {"content-type": "application/json"}


class ApiError(Exception):
    """A refusal: HTTP status, a stable error code and a readable message (nothing else is returned)."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Reply:
    """A success: HTTP status and a JSON document."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiRequest:
    """One call of a route by one app identity."""

    route: str
    identity_id: str
    path_parameters: dict[str, str]
    body: bytes


def parse_event(event: Mapping[str, Any]) -> ApiRequest:
    """The request of a payload-v2 event; ApiError 403 when no Cognito identity signed it."""
    if not isinstance(event, Mapping) or event.get("version") != "2.0":
        raise ApiError(400, "bad_event", "not an API Gateway HTTP API (payload 2.0) event")
    context = event.get("requestContext") or {}
    iam = ((context.get("authorizer") or {}).get("iam")) or {}
    identity = (iam.get("cognitoIdentity") or {}).get("identityId")
    if not isinstance(identity, str) or not valid_identity_id(identity):
        raise ApiError(403, "forbidden", "this API serves the app's identities only (Cognito credentials)")
    return ApiRequest(
        route=str(event.get("routeKey") or context.get("routeKey") or ""),
        identity_id=identity,
        path_parameters={str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()},
        body=_body(event),
    )


def valid_identity_id(identity_id: str) -> bool:
    """True for a Cognito identity id (``<region>:<uuid>``)."""
    return len(identity_id) <= MAX_IDENTITY_ID_LENGTH and bool(IDENTITY_ID.fullmatch(identity_id))


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "bad_request", "request body is not valid base64") from None
    return str(body).encode("utf-8")


def json_object(body: bytes, *, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; ApiError 413 above ``max_bytes``, 400 when not a JSON object."""
    if len(body) > max_bytes:
        raise ApiError(413, "request_too_large", f"request body is {len(body)} bytes, limit {max_bytes}")
    try:
        value = json.loads(body or b"null")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "bad_request", "request body is not JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", "request body must be a JSON object")
    return value


def reply_response(reply: Reply) -> dict[str, Any]:
    """The payload-v2 Lambda response for a success."""
    return _response(reply.status, reply.body, reply.headers)


def error_response(error: ApiError) -> dict[str, Any]:
    """The payload-v2 Lambda response for a refusal: ``{"error": code, "message": text}``."""
    return _response(error.status, {"error": error.code, "message": error.message}, error.headers)


def _response(status: int, body: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **headers},
        "body": json.dumps(body, sort_keys=True),
        "isBase64Encoded": False,
    }
