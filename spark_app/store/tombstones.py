"""Tombstones of erasures in progress and leases of running writers (``<store>/erasure/``).

The writers' side of the erasure protocol (:mod:`spark_app.core.erasure`): a writer takes a lease
(:func:`lease`), then reads the tombstones (:func:`tombstoned_digests`) and leaves out the uploads they
name. The erasure writes, reads and removes tombstones and reads the leases.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from spark_app.core.defaults import ERASURE_DIR, LEASE_SECONDS
from spark_app.core.erasure import LEASES, TOMBSTONES, Lease, Tombstone, tombstone_name
from spark_app.core.uris import is_s3_uri, join_uri, local_path, split_s3_uri
from spark_app.store import objects, versions

log = logging.getLogger("fruits")


def erasure_root(store: str) -> str:
    """``<store>/erasure``."""
    return join_uri(store, ERASURE_DIR)


def _names(root: str) -> list[str]:
    if not is_s3_uri(root) and not local_path(root).is_dir():
        return []
    return [f.uri for f in objects.list_files(root) if f.uri.endswith(".json")]


def tombstoned_digests(store: str) -> set[str]:
    """The digests of the identities being erased (one listing; no object read)."""
    return {
        uri.rsplit("/", 1)[1].removesuffix(".json")
        for uri in _names(join_uri(erasure_root(store), TOMBSTONES))
    }


def tombstone_exists(store: str, digest: str) -> bool:
    """True while ``digest``'s erasure is in progress: one ListObjectsV2 on the exact key (a reader
    allowed to list only the tombstones gets a clean answer; a HEAD of a missing key would be a 403)."""
    uri = join_uri(erasure_root(store), tombstone_name(digest))
    if not is_s3_uri(uri):
        return local_path(uri).is_file()
    bucket, key = split_s3_uri(uri)
    try:
        response = objects.s3_client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    except Exception as exc:
        raise objects.StorageError(f"cannot check the tombstones in {store}: {exc}") from None
    return any(item["Key"] == key for item in response.get("Contents", []))


def read_tombstone(store: str, digest: str) -> Tombstone | None:
    """The tombstone of ``digest``, or None."""
    uri = join_uri(erasure_root(store), tombstone_name(digest))
    return Tombstone.parse(objects.read_text(uri)) if objects.exists(uri) else None


def write_tombstone(store: str, tombstone: Tombstone) -> Tombstone:
    """Write ``tombstone`` unless one of the same identity exists; returns the one in force (a resumed
    erasure keeps its first id and hold)."""
    uri = join_uri(erasure_root(store), tombstone_name(tombstone.digest))
    if objects.create_text(uri, tombstone.to_json()):
        return tombstone
    return Tombstone.parse(objects.read_text(uri))


def remove_tombstone(store: str, digest: str) -> None:
    """The erasure is over: writers may take this identity's uploads again."""
    versions.purge_object(join_uri(erasure_root(store), tombstone_name(digest)))


def read_leases(store: str) -> list[Lease]:
    """Every lease (live or expired) of the store's writers."""
    leases = []
    for uri in _names(join_uri(erasure_root(store), LEASES)):
        try:
            leases.append(Lease.parse(objects.read_text(uri)))
        except objects.StorageError:
            continue  # released between the listing and the read
    return leases


@contextmanager
def lease(store: str, partition: str, *, seconds: float = LEASE_SECONDS) -> Iterator[Lease]:
    """Hold a lease on ``partition`` (a batch id, or ``*``) for the block; released at its end, even on
    failure (a crashed process's lease expires after ``seconds``)."""
    held = Lease.new(
        f"{partition.replace('*', 'all')}.{uuid.uuid4().hex}", partition, datetime.now(UTC), seconds
    )
    uri = join_uri(erasure_root(store), LEASES, f"{held.holder}.json")
    objects.write_text(uri, held.to_json())
    try:
        yield held
    finally:
        try:
            if is_s3_uri(uri):
                objects.delete_prefix(uri)
            else:
                local_path(uri).unlink(missing_ok=True)
        except objects.StorageError as exc:  # it expires on its own
            log.warning(f"lease {held.holder} not released ({exc}); it expires at {held.expires_at}")
