"""Erasing for good in a versioned bucket: a delete or an overwrite leaves the old versions behind.

The results and artifacts buckets are versioned (old versions expire after
``noncurrent_version_retention_days``). An erasure cannot wait for that: it deletes every version
(and delete marker) under an identity's prefixes, and the previous versions of the files it rewrote.
On a bucket without versioning the same calls delete the objects (their one version is ``null``).
Local paths have no versions: plain deletes.
"""

from __future__ import annotations

from typing import Any

from spark_app.core.uris import is_s3_uri, local_path, split_s3_uri
from spark_app.store import objects


def _versions(bucket: str, prefix: str) -> list[dict[str, Any]]:
    found = []
    pages = objects.s3_client().get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for kind in ("Versions", "DeleteMarkers"):
            for entry in page.get(kind, []):
                found.append(
                    {
                        "Key": entry["Key"],
                        "VersionId": entry["VersionId"],
                        "latest": entry["IsLatest"],
                        "marker": kind == "DeleteMarkers",
                    }
                )
    return found


def _delete(bucket: str, entries: list[dict[str, Any]]) -> None:
    client = objects.s3_client()
    for start in range(0, len(entries), 1000):
        chunk = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})


def purge_prefix(uri: str) -> int:
    """Delete every object under ``uri`` (a prefix ending in ``/``) with all its versions; returns how
    many objects were current (what a reader saw)."""
    if not is_s3_uri(uri):
        return objects.delete_prefix(uri)
    bucket, prefix = split_s3_uri(uri)
    try:
        entries = _versions(bucket, prefix)
        _delete(bucket, entries)
    except Exception as exc:
        raise objects.StorageError(f"cannot erase {uri}: {exc}") from None
    return sum(1 for e in entries if e["latest"] and not e["marker"])


def purge_object(uri: str) -> None:
    """Delete one object and all its versions (a missing object is not an error)."""
    if not is_s3_uri(uri):
        local_path(uri).unlink(missing_ok=True)
        return
    bucket, key = split_s3_uri(uri)
    try:
        _delete(bucket, [e for e in _versions(bucket, key) if e["Key"] == key])
    except Exception as exc:
        raise objects.StorageError(f"cannot erase {uri}: {exc}") from None


def purge_old_versions(uri: str) -> None:
    """Delete the non-current versions of one object (what it held before it was rewritten)."""
    if not is_s3_uri(uri):
        return
    bucket, key = split_s3_uri(uri)
    try:
        _delete(bucket, [e for e in _versions(bucket, key) if e["Key"] == key and not e["latest"]])
    except Exception as exc:
        raise objects.StorageError(f"cannot erase old versions of {uri}: {exc}") from None
