"""HTTP for the client: SigV4-signed API requests, the S3 form POST, and the transport that sends them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from xml.etree import ElementTree

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

#: The service name API Gateway's IAM authorization expects in the signature's scope.
EXECUTE_API = "execute-api"
USER_AGENT = "fruits-app-reference-client/1.0"


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers (lower-case names) and body of a response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Transport(Protocol):
    """Sends one prepared request (the real internet, or an emulator in tests)."""

    def send(self, request: AWSPreparedRequest) -> HttpResponse: ...


class Urllib3Transport:
    """botocore's own HTTP session (TLS verification on, connection reuse)."""

    def __init__(self, timeout: float = 30.0):
        self._session = URLLib3Session(timeout=timeout)

    def send(self, request: AWSPreparedRequest) -> HttpResponse:
        response = self._session.send(request)
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
        )


def signed_api_request(
    method: str, url: str, body: Mapping[str, Any] | None, credentials: Credentials, region: str
) -> AWSPreparedRequest:
    """A JSON API request signed with SigV4 for ``execute-api`` (what API Gateway's IAM auth checks)."""
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"accept": "application/json", "user-agent": USER_AGENT}
    if body is not None:
        headers["content-type"] = "application/json"
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(credentials, EXECUTE_API, region).add_auth(request)
    return request.prepare()


def form_post(url: str, fields: Mapping[str, str], *, data: bytes, content_type: str) -> AWSPreparedRequest:
    """The browser-style ``multipart/form-data`` POST of a presigned form: its fields, then the file.

    S3 requires the file to be the last field; the form's own fields carry the authorization.
    """
    boundary = f"----fruits{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "user-agent": USER_AGENT}
    return AWSRequest(method="POST", url=url, data=b"".join(parts), headers=headers).prepare()


def s3_error(body: bytes) -> tuple[str, str]:
    """``(code, message)`` of an S3 XML error document (empty strings when it is not one)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", body[:200].decode("utf-8", "replace")
    return root.findtext("Code") or "", root.findtext("Message") or ""
