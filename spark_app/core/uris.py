"""URIs and paths: ``s3://bucket/key``, local paths and ``file://`` URIs (string handling only)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

S3_SCHEMES = ("s3://", "s3a://", "s3n://")


def is_s3_uri(uri: str) -> bool:
    """True for s3://, s3a:// and s3n:// URIs."""
    return uri.startswith(S3_SCHEMES)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not is_s3_uri(uri):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    if not bucket:
        raise ValueError(f"s3 URI without a bucket: {uri}")
    return bucket, key


def local_path(uri: str) -> Path:
    """Local filesystem path of a plain path or ``file://`` URI."""
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def join_uri(base: str, *parts: str) -> str:
    """Join URI or path segments with single slashes."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out
