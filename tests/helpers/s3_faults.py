"""S3 answers that an emulator never gives, injected into a real boto3 client (before the request is sent).

moto does not enforce S3's 1,024-byte key limit, never answers ``409 ConditionalRequestConflict`` and
answers a missing key with 404 even where AWS answers 403 (a reader without ``s3:ListBucket``). These
make the client raise exactly what botocore raises for such an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse

#: S3's limit on an object key (UTF-8 bytes).
MAX_KEY_BYTES = 1024


def inject_error(
    client: Any,
    operation: str,
    code: str,
    status: int,
    *,
    when: Callable[[str], bool] = lambda _path: True,
    times: int | None = None,
) -> list[str]:
    """Answer ``operation`` with ``status``/``code`` for requests whose URL path (``/<key>``, URL-encoded)
    matches ``when``, at most ``times`` times; returns the paths refused so far (a live list)."""
    refused: list[str] = []

    def answer(params: dict[str, Any], **_kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        path = params.get("url_path", "")
        if (times is not None and len(refused) >= times) or not when(path):
            return None
        refused.append(path)
        error = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse(path, status, {}, None), error

    client.meta.events.register(f"before-call.s3.{operation}", answer)
    return refused


def enforce_key_limit(client: Any) -> list[str]:
    """Refuse a PutObject whose key is over S3's 1,024 bytes, as S3 does (400 KeyTooLongError)."""
    from urllib.parse import unquote

    def too_long(path: str) -> bool:
        key = unquote(path.split("?", 1)[0]).removeprefix("/")  # the URL path is /<key>
        return len(key.encode("utf-8")) > MAX_KEY_BYTES

    return inject_error(client, "PutObject", "KeyTooLongError", 400, when=too_long)
