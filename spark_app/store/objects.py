"""Reading and writing objects by URI: local paths, ``file://`` URIs and ``s3://bucket/key``.

This is the only module that talks to S3. The same code runs on EMR Serverless and
locally; the S3 endpoint comes from boto3's standard ``AWS_ENDPOINT_URL_S3`` variable
(unset on AWS, set to an emulator's URL locally), so there is no local-only path. Every client gets
its region explicitly (:func:`aws_region`): botocore itself reads only ``AWS_DEFAULT_REGION`` or its
config files, which nothing guarantees on EMR Serverless.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_app.core.uris import is_s3_uri, local_path, split_s3_uri

ENDPOINT_ENV = "AWS_ENDPOINT_URL_S3"
#: The region of the job's AWS clients: set from ``--region`` by the command line and forwarded to the
#: Python workers (:func:`worker_environment`). The name the AWS runtimes (Lambda, the other SDKs) use.
REGION_ENV = "AWS_REGION"
#: boto3's own region variable, the fallback.
DEFAULT_REGION_ENV = "AWS_DEFAULT_REGION"
#: What Python workers need, besides the endpoint and the region, to reach an emulator (on AWS they use
#: the job role, and nothing is forwarded).
_EMULATOR_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class StorageError(OSError):
    """An object that cannot be read, listed or written; the message says why."""


class ObjectTooLarge(StorageError):
    """An object above the size limit of a read (nothing of it was read)."""


@dataclass(frozen=True)
class ListedFile:
    """A file found under an input root."""

    uri: str
    relative_path: str  # POSIX path relative to the root


_pool_lock = threading.Lock()
_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}


def io_pool(name: str, threads: int) -> ThreadPoolExecutor:
    """A thread pool for concurrent object I/O, one per process, name and size (kept for reuse:
    executors call this for every batch)."""
    with _pool_lock:
        pool = _pools.get((name, threads))
        if pool is None:
            pool = _pools[(name, threads)] = ThreadPoolExecutor(threads, f"fruits-{name}")
        return pool


def aws_region() -> str | None:
    """The region every AWS client of the job uses: ``AWS_REGION`` (``--region``), else
    ``AWS_DEFAULT_REGION``; None when neither is set (boto3 then reads its config files)."""
    return os.environ.get(REGION_ENV) or os.environ.get(DEFAULT_REGION_ENV) or None


def use_region(region: str) -> None:
    """Make ``region`` the job's region, in this process and (:func:`worker_environment`) its workers."""
    os.environ[REGION_ENV] = region


def worker_environment() -> dict[str, str]:
    """The driver's AWS settings its Python workers need: the region (whenever it is known) and, for
    an S3-compatible endpoint other than AWS, that endpoint and its credentials."""
    settings = {REGION_ENV: region} if (region := aws_region()) else {}
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        settings[ENDPOINT_ENV] = endpoint
        settings.update({name: os.environ[name] for name in _EMULATOR_ENV if os.environ.get(name)})
    return settings


_client_lock = threading.Lock()
_clients: dict[tuple[str | None, str | None], Any] = {}


def s3_client() -> Any:
    """A boto3 S3 client, one per process, endpoint and region (created lazily)."""
    key = (os.environ.get(ENDPOINT_ENV) or None, aws_region())
    with _client_lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=16)
            endpoint, region = key
            _clients[key] = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)
        return _clients[key]


def _error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError ('' for other exceptions)."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


_NOT_FOUND = ("NoSuchKey", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "Forbidden")


def _s3_error(uri: str, exc: Exception, *, reading: bool = False) -> StorageError:
    """A readable error for a failed S3 request on ``uri`` (``reading``: a GetObject/HeadObject).

    S3 answers a read of a missing key with 403 instead of 404 when the reader may not list the
    bucket (the job's role may list only some prefixes), so a read's 403 is reported as what it may
    be: a missing (deleted or expired) object, or one the job may not read.
    """
    code = _error_code(exc)
    if code in ("NoSuchBucket",):
        return StorageError(f"bucket of {uri} does not exist")
    if code in _NOT_FOUND:
        return StorageError(f"object not found: {uri} (deleted, or expired after its retention period)")
    if code in _DENIED and reading:
        return StorageError(
            f"object not found or not readable: {uri} (deleted, expired after its retention period, or "
            "not readable by this job: S3 answers 403 for a missing object to a reader that may not "
            "list its bucket)"
        )
    if code in _DENIED:
        return StorageError(f"access denied to {uri}")
    return StorageError(f"cannot access {uri}: {code or type(exc).__name__}: {exc}")


def read_bytes(uri: str, *, max_bytes: int | None = None) -> bytes:
    """Whole content of a file or object; ``max_bytes`` rejects larger ones before reading."""
    if is_s3_uri(uri):
        bucket, key = split_s3_uri(uri)
        try:
            response = s3_client().get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise _s3_error(uri, exc, reading=True) from None
        size = response.get("ContentLength", 0)
        if max_bytes is not None and size > max_bytes:
            response["Body"].close()
            raise ObjectTooLarge(_too_large(size, max_bytes))
        try:
            return response["Body"].read()
        except Exception as exc:  # the connection dropped mid-body (after botocore's own retries)
            raise StorageError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from None
    path = local_path(uri)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ObjectTooLarge(_too_large(size, max_bytes))
        return path.read_bytes()
    except FileNotFoundError:
        raise StorageError(f"file not found: {uri}") from None
    except PermissionError:
        raise StorageError(f"permission denied: {uri}") from None
    except IsADirectoryError:
        raise StorageError(f"is a directory, not a file: {uri}") from None
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot read {uri}: {exc.strerror or exc}") from None


def _too_large(size: int, max_bytes: int) -> str:
    return f"file too large: {size:,} bytes, above the limit of {max_bytes:,}"


def read_text(uri: str) -> str:
    """A small UTF-8 text file or object."""
    data = read_bytes(uri)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StorageError(f"not UTF-8 text: {uri}") from None


def write_text(uri: str, text: str) -> None:
    """Write a small UTF-8 text file or object (parents created locally)."""
    write_bytes(uri, text.encode("utf-8"))


def write_bytes(uri: str, data: bytes) -> None:
    """Write a small file or object (parents created locally)."""
    if is_s3_uri(uri):
        bucket, key = split_s3_uri(uri)
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as exc:
            raise _s3_error(uri, exc) from None
        return
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class ConditionFailed(StorageError):
    """A conditional write lost a race: the object changed (or appeared) since it was read."""


class ConditionConflict(ConditionFailed):
    """S3 answered 409 ConditionalRequestConflict: another operation on the object was in flight.

    Nothing was decided: the S3 documentation says to read the object again (its ETag) and retry.
    """


@dataclass(frozen=True)
class VersionedText:
    """A small text object and the tag that identifies this exact content (S3 ETag or a hash)."""

    text: str
    etag: str


_LOCAL_LOCK_SUFFIX = ".lock"
_CHANGED = "{uri} changed since it was read: conditional write refused"
_CONFLICT = "{uri} was being changed by another request (409 ConditionalRequestConflict): read it and retry"


def _local_etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def read_text_versioned(uri: str) -> VersionedText | None:
    """The object's text and tag, or None when it does not exist (for :func:`write_text_if`)."""
    if is_s3_uri(uri):
        bucket, key = split_s3_uri(uri)
        try:
            response = s3_client().get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise _s3_error(uri, exc, reading=True) from None
        return VersionedText(response["Body"].read().decode("utf-8"), response["ETag"])
    path = local_path(uri)
    if not path.is_file():
        return None
    data = path.read_bytes()
    return VersionedText(data.decode("utf-8"), _local_etag(data))


def write_text_if(uri: str, text: str, *, expected_etag: str | None) -> None:
    """Write only if the object still has ``expected_etag`` (None: only if it does not exist yet).

    S3 enforces the condition itself (``If-Match`` / ``If-None-Match: *`` on PutObject), so two
    writers cannot both succeed; locally an exclusive ``flock`` on ``<file>.lock`` does the same for
    every process of the machine. The loser gets :class:`ConditionFailed`; S3's 409 (another request
    on the object in flight: nothing decided) raises :class:`ConditionConflict`, for the caller to
    read the object again and retry.
    """
    body = text.encode("utf-8")
    if is_s3_uri(uri):
        bucket, key = split_s3_uri(uri)
        condition = {"IfMatch": expected_etag} if expected_etag else {"IfNoneMatch": "*"}
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=body, **condition)
        except Exception as exc:
            code = _error_code(exc)
            if code in ("ConditionalRequestConflict", "409"):
                raise ConditionConflict(_CONFLICT.format(uri=uri)) from None
            if code in ("PreconditionFailed", "412"):
                raise ConditionFailed(_CHANGED.format(uri=uri)) from None
            raise _s3_error(uri, exc) from None
        return
    import fcntl

    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}{_LOCAL_LOCK_SUFFIX}", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = _local_etag(path.read_bytes()) if path.is_file() else None
        if current != expected_etag:
            raise ConditionFailed(_CHANGED.format(uri=uri))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)


#: Attempts of a create that meets S3's 409 ConditionalRequestConflict (a concurrent delete of the key).
_CREATE_ATTEMPTS = 3


def create_text(uri: str, text: str) -> bool:
    """Write a small UTF-8 object only if it does not exist yet: True when written, False when it existed.

    First writer wins, atomically: S3 refuses the PutObject itself (``If-None-Match: *``, 412) when the key
    exists; locally the file appears complete or not at all (``os.link`` of a finished temporary file
    fails when the target exists), without lock files.
    """
    body = text.encode("utf-8")
    return _create_s3(uri, body) if is_s3_uri(uri) else _create_local(local_path(uri), body)


def _create_s3(uri: str, body: bytes) -> bool:
    bucket, key = split_s3_uri(uri)
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return True
        except Exception as exc:
            code = _error_code(exc)
            if code in ("PreconditionFailed", "412"):
                return False
            # 409: a conflicting operation (a delete) raced this write; S3 asks for a retry.
            if code not in ("ConditionalRequestConflict", "409") or attempt == _CREATE_ATTEMPTS:
                raise _s3_error(uri, exc) from None
    return False  # not reached: the last attempt returns or raises


def _create_local(path: Path, body: bytes) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(body)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def exists(uri: str) -> bool:
    """True when the file or object exists."""
    if is_s3_uri(uri):
        bucket, key = split_s3_uri(uri)
        try:
            s3_client().head_object(Bucket=bucket, Key=key)
            return True
        except Exception as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise _s3_error(uri, exc, reading=True) from None
    return local_path(uri).exists()


def check_writable(uri: str) -> None:
    """Fail early when outputs cannot go to ``uri`` (missing bucket, unwritable folder)."""
    if is_s3_uri(uri):
        bucket, _ = split_s3_uri(uri)
        try:
            s3_client().head_bucket(Bucket=bucket)
        except Exception as exc:
            if _error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"output bucket {bucket} does not exist") from None
            raise _s3_error(uri, exc) from None
        return
    path = local_path(uri)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create output folder {uri}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise StorageError(f"output folder is not writable: {uri}")


def list_files(root: str) -> list[ListedFile]:
    """Every file under a local folder or an S3 prefix (recursive), sorted by URI.

    Nothing is filtered: unsupported files are listed too, so the caller can account
    for each one.
    """
    return _list_s3(root) if is_s3_uri(root) else _list_local(root)


def _list_local(root: str) -> list[ListedFile]:
    base = local_path(root).resolve()
    if not base.exists():
        raise StorageError(f"input folder not found: {root}")
    if not base.is_dir():
        raise StorageError(f"input is not a folder: {root}")
    found = [
        ListedFile(
            uri=str(Path(dirpath) / name), relative_path=(Path(dirpath) / name).relative_to(base).as_posix()
        )
        for dirpath, _dirs, names in os.walk(base)
        for name in names
    ]
    return sorted(found, key=lambda f: f.uri)


def _list_s3(root: str) -> list[ListedFile]:
    bucket, prefix = split_s3_uri(root)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    found: list[ListedFile] = []
    try:
        paginator = s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):  # folder placeholder objects are not files
                    continue
                found.append(ListedFile(uri=f"s3://{bucket}/{key}", relative_path=key[len(prefix) :]))
    except Exception as exc:
        raise _s3_error(root, exc) from None
    return sorted(found, key=lambda f: f.uri)


def delete_prefix(uri: str) -> int:
    """Delete every object under an s3:// prefix (or every file under a local folder); returns how many."""
    if not is_s3_uri(uri):
        base = local_path(uri)
        count = sum(1 for p in base.rglob("*") if p.is_file()) if base.is_dir() else 0
        shutil.rmtree(base, ignore_errors=True)
        return count
    bucket, prefix = split_s3_uri(uri)
    client = s3_client()
    deleted = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
    except Exception as exc:
        raise _s3_error(uri, exc) from None
    return deleted


def upload_dir(local_dir: str, uri: str) -> int:
    """Upload a local folder's files under an s3:// prefix (skipping Hadoop .crc files)."""
    bucket, prefix = split_s3_uri(uri)
    base = Path(local_dir)
    uploaded = 0
    for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.endswith(".crc")):
        key = f"{prefix.rstrip('/')}/{path.relative_to(base).as_posix()}".lstrip("/")
        try:
            s3_client().upload_file(str(path), bucket, key)
        except Exception as exc:
            raise _s3_error(f"s3://{bucket}/{key}", exc) from None
        uploaded += 1
    return uploaded


def download_prefix(uri: str, local_dir: str) -> int:
    """Download every object under an s3:// prefix into a local folder."""
    listed = _list_s3(uri)
    for item in listed:
        target = Path(local_dir) / item.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_bytes(item.uri))
    return len(listed)
