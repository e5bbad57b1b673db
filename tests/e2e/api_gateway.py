"""API Gateway's HTTP API, emulated around the real app API handler (moto does not execute API routes).

What it does, as API Gateway does for an IAM-authorized route: check the request's SigV4 signature
(service ``execute-api``, the API's region, the caller's credentials), match the route keys of the
synthesized template (``{name}`` matches one path segment), build the payload 2.0 event (lower-case
headers, ``rawPath``, ``pathParameters``, ``requestContext`` with ``authorizer.iam.cognitoIdentity``),
invoke the handler in-process and turn its response into the HTTP response.

What it does not do, and where that is covered instead:

- IAM authorization of ``execute-api:Invoke`` against the caller's role: every call it serves is recorded
  (:attr:`ApiGatewayEmulator.calls`) and evaluated against the synthesized policies in tests/conformance.
- Knowing the identity from the credentials: moto hands every identity the same credentials, so each
  client's transport is bound to the identity id moto's GetId returned to it (what IAM resolves on AWS).
- Stage throttling (checked in the template: tests/cdk/test_app_access.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials

from app_client.http import EXECUTE_API, HttpResponse

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<headers>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)
#: Seconds a signature's date may be off from now (AWS allows 5 minutes).
CLOCK_SKEW = 300


@dataclass(frozen=True)
class Caller:
    """The identity a transport is bound to: its id, pool, role name and credentials."""

    identity_id: str
    identity_pool_id: str
    role_name: str
    credentials: Callable[[], Credentials]
    amr: tuple[str, ...] = ("unauthenticated",)


@dataclass(frozen=True)
class ApiCall:
    """One request the emulated API served (or refused before the handler)."""

    identity_id: str
    method: str
    path: str
    route_key: str | None
    status: int


@dataclass
class ApiGatewayEmulator:
    """The HTTP API at ``api_url``: its route keys, its account and region, its handler."""

    api_url: str
    route_keys: Sequence[str]
    region: str
    account: str
    handler: Handler
    context: Callable[[], Any]
    stage: str = "$default"
    calls: list[ApiCall] = field(default_factory=list)

    def transport(self, caller: Caller) -> _CallerTransport:
        """A transport for the app client of one identity."""
        return _CallerTransport(self, caller)

    def serve(self, request: AWSPreparedRequest, caller: Caller) -> HttpResponse:
        url = urlsplit(request.url)
        path = url.path or "/"
        if url.netloc != urlsplit(self.api_url).netloc:
            raise ValueError(f"{request.url} is not this API ({self.api_url})")
        if not signature_valid(request, caller.credentials(), self.region):
            return self._refuse(caller, request.method, path, 403, "Forbidden")
        route = match_route(self.route_keys, request.method, path)
        if route is None:
            return self._refuse(caller, request.method, path, 404, "Not Found")
        route_key, parameters = route
        event = payload_v2_event(self, request, caller, route_key, parameters)
        response = self.handler(event, self.context())
        self.calls.append(
            ApiCall(caller.identity_id, request.method, path, route_key, response["statusCode"])
        )
        body = response.get("body") or ""
        return HttpResponse(
            status=response["statusCode"],
            headers={k.lower(): v for k, v in (response.get("headers") or {}).items()},
            body=body.encode() if isinstance(body, str) else body,
        )

    def _refuse(self, caller: Caller, method: str, path: str, status: int, message: str) -> HttpResponse:
        self.calls.append(ApiCall(caller.identity_id, method, path, None, status))
        return HttpResponse(
            status, {"content-type": "application/json"}, json.dumps({"message": message}).encode()
        )


@dataclass(frozen=True)
class _CallerTransport:
    emulator: ApiGatewayEmulator
    caller: Caller

    def send(self, request: AWSPreparedRequest) -> HttpResponse:
        return self.emulator.serve(request, self.caller)


def signature_valid(request: AWSPreparedRequest, credentials: Credentials, region: str) -> bool:
    """Recompute the request's SigV4 signature over the headers it signed, with the caller's secret."""
    match = _AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
    amz_date = request.headers.get("X-Amz-Date", "")
    if not match or not amz_date:
        return False
    frozen = credentials.get_frozen_credentials()
    if (match["key"], match["region"], match["service"]) != (frozen.access_key, region, EXECUTE_API):
        return False
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > CLOCK_SKEW or match["date"] != amz_date[:8]:
        return False
    names = match["headers"].split(";")
    headers = {k: v for k, v in request.headers.items() if k.lower() in names and k.lower() != "host"}
    copy = AWSRequest(method=request.method, url=request.url, data=request.body or b"", headers=headers)
    copy.context["timestamp"] = amz_date
    signer = SigV4Auth(frozen, EXECUTE_API, region)
    if signer.signed_headers(signer.headers_to_sign(copy)) != match["headers"]:
        return False
    string_to_sign = signer.string_to_sign(copy, signer.canonical_request(copy))
    return signer.signature(string_to_sign, copy) == match["signature"]


def match_route(route_keys: Sequence[str], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The route key matching ``method path`` and its path parameters (``{name}`` = one segment)."""
    segments = path.strip("/").split("/")
    for key in route_keys:
        key_method, template = key.split(" ", 1)
        parts = template.strip("/").split("/")
        if key_method != method or len(parts) != len(segments):
            continue
        parameters: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}") and segment:
                parameters[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return key, parameters
    return None


def payload_v2_event(
    api: ApiGatewayEmulator,
    request: AWSPreparedRequest,
    caller: Caller,
    route_key: str,
    parameters: dict[str, str],
) -> dict[str, Any]:
    """The event API Gateway sends a Lambda proxy integration (payload format 2.0, IAM authorizer)."""
    url = urlsplit(request.url)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers.setdefault("host", url.netloc)
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    api_id = url.netloc.split(".", 1)[0]
    now = time.time()
    frozen = caller.credentials().get_frozen_credentials()
    session = f"arn:aws:sts::{api.account}:assumed-role/{caller.role_name}/CognitoIdentityCredentials"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": {**headers, "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": url.scheme},
        "requestContext": {
            "accountId": api.account,
            "apiId": api_id,
            "authorizer": {
                "iam": {
                    "accessKey": frozen.access_key,
                    "accountId": api.account,
                    "callerId": "AROAEMULATED:CognitoIdentityCredentials",
                    "cognitoIdentity": {
                        "amr": list(caller.amr),
                        "identityId": caller.identity_id,
                        "identityPoolId": caller.identity_pool_id,
                    },
                    "principalOrgId": None,
                    "userArn": session,
                    "userId": "AROAEMULATED:CognitoIdentityCredentials",
                }
            },
            "domainName": url.netloc,
            "domainPrefix": api_id,
            "http": {
                "method": request.method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": api.stage,
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if url.query:
        event["queryStringParameters"] = dict(parse_qsl(url.query))
    if parameters:
        event["pathParameters"] = parameters
    if body:
        event["body"] = body.decode("utf-8")
    return event
