"""One pass of an identity's erasure over the buckets, the store, the catalog, the identity table and
Cognito (the protocol is in :mod:`spark_app.core.erasure`; ``cli/erase.py`` is the command).

A pass is idempotent: it writes the tombstone (or finds it), deletes the identity's prefixes, rewrites
the manifests and Parquet files that name its uploads, drops the Glue partitions it emptied, deletes the
identity table's items and the Cognito identity, and adds its counts to the receipt. Run it again after
a crash, or while writers it waits for are running: it finishes what is left. The erasure is over when a
pass ran with no lease blocking it after the tombstone's hold; that pass removes the tombstone.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spark_app.core.defaults import ERASURE_HOLD_SECONDS, ERRORS_DIR, FEATURES_DIR
from spark_app.core.erasure import (
    DONE,
    PENDING,
    Layout,
    Lease,
    Receipt,
    Tombstone,
    blocked,
    erasure_prefixes,
    filter_manifest,
    finished,
    identity_digest,
    names_identity,
    parse_time,
    receipt_name,
)
from spark_app.core.manifest import MANIFEST_SUFFIX
from spark_app.core.uris import is_s3_uri, join_uri, local_path
from spark_app.store import objects, versions
from spark_app.store.parquet_rows import remove_rows
from spark_app.store.tombstones import erasure_root, read_leases, remove_tombstone, write_tombstone

log = logging.getLogger("fruits")

#: A lease that started this long after the tombstone was written read it (clocks of two machines).
CLOCK_SKEW = timedelta(seconds=60)
#: Dataset folder -> the receipt's count of its rows.
ROW_COUNTS = {FEATURES_DIR: "feature_rows", ERRORS_DIR: "error_rows"}


@dataclass(frozen=True)
class ErasureRequest:
    """One identity to erase, and where."""

    identity_id: str
    layout: Layout
    #: The app's identity table (DynamoDB), and whether to delete the identity in Cognito.
    identity_table: str | None = None
    cognito: bool = False
    #: The Glue database whose partitions follow the store's folders.
    glue_database: str | None = None
    hold_seconds: float = ERASURE_HOLD_SECONDS
    #: The receipt's id (the app API's answer); None: the id of the erasure in progress, else a new one.
    erasure_id: str | None = None


Hook = Callable[[str], None]


def erase_pass(request: ErasureRequest, *, hook: Hook | None = None) -> Receipt:
    """One idempotent pass; returns the receipt (``status`` done, or pending with what it waits for).

    ``hook(step)`` is called after each step (``tombstone``, ``objects``, ``manifests``, ``rows``,
    ``records``): tests interleave writers there.
    """
    started = time.perf_counter()
    step = hook or (lambda _step: None)
    identity, layout = request.identity_id, request.layout
    now = datetime.now(UTC)
    wanted = Tombstone.new(identity, request.erasure_id or uuid.uuid4().hex, now, request.hold_seconds)
    tombstone = write_tombstone(layout.store, wanted)
    # The caller's receipt id (the app API's answer), else the erasure in progress's (a resumed command).
    receipt = _read_receipt(layout.store, request.erasure_id or tombstone.erasure_id, tombstone)
    step("tombstone")
    leases = read_leases(layout.store)  # listed after the tombstone exists: later writers see it
    prefixes = erasure_prefixes(layout, identity)
    counts = {kind: versions.purge_prefix(prefix) for kind, prefix in prefixes.items()}
    step("objects")

    def drop(uri: str) -> bool:
        return names_identity(uri, identity, layout.uploads_prefix)

    if layout.manifests:
        counts["manifests_rewritten"], counts["manifest_lines"] = rewrite_manifests(layout.manifests, drop)
    step("manifests")
    skipped: set[str] = set()
    for dataset, kind in ROW_COUNTS.items():
        cleaning = remove_rows(
            join_uri(layout.store, dataset), drop, skip=lambda batch: blocked(batch, leases, now)
        )
        counts[kind] = cleaning.rows
        counts["parquet_files_rewritten"] = (
            counts.get("parquet_files_rewritten", 0) + cleaning.files_rewritten
        )
        counts["parquet_files_deleted"] = counts.get("parquet_files_deleted", 0) + cleaning.files_deleted
        skipped.update(cleaning.skipped)
        if cleaning.emptied and request.glue_database:
            from spark_app.store.catalog import drop_batch_partition

            for batch in cleaning.emptied:
                counts["catalog_partitions"] = counts.get("catalog_partitions", 0) + drop_batch_partition(
                    request.glue_database, dataset, batch
                )
    step("rows")
    counts.update(_records(request))
    step("records")

    waiting = waiting_for(leases, tombstone, skipped, now)
    receipt.passes += 1
    receipt.add(counts)
    receipt.seconds = round(receipt.seconds + time.perf_counter() - started, 3)
    if finished(len(waiting), datetime.now(UTC), tombstone):
        remove_tombstone(layout.store, identity_digest(identity))
        receipt.status, receipt.finished_at, receipt.waiting_for = DONE, _iso_now(), {}
    else:
        receipt.status = PENDING
        receipt.waiting_for = {"writers": len(waiting), "hold_until": tombstone.hold_until}
    objects.write_text(
        join_uri(erasure_root(layout.store), receipt_name(receipt.erasure_id)), receipt.to_json()
    )
    log.info(f"erasure {receipt.erasure_id}: pass {receipt.passes}, {receipt.status}")
    return receipt


def waiting_for(leases: list[Lease], tombstone: Tombstone, skipped: set[str], now: datetime) -> list[Lease]:
    """The live leases the erasure must outlast: writers that may have started before the tombstone
    (they may not have seen it), and writers of a partition this pass had to leave alone."""
    early = parse_time(tombstone.created_at) + CLOCK_SKEW
    return [
        lease
        for lease in leases
        if lease.live(now)
        and (parse_time(lease.started_at) <= early or any(lease.owns(batch) for batch in skipped))
    ]


def _records(request: ErasureRequest) -> dict[str, int]:
    counts = {}
    if request.identity_table:
        from spark_app.store.identities import erase_identity_items

        counts["identity_items"] = erase_identity_items(request.identity_table, request.identity_id)
    if request.cognito:
        from spark_app.store.identities import delete_cognito_identity

        counts["cognito_identities"] = delete_cognito_identity(request.identity_id)
    return counts


def rewrite_manifests(root: str, drop: Callable[[str], bool]) -> tuple[int, int]:
    """Rewrite every manifest under ``root`` without the lines ``drop`` names (a manifest left empty is
    deleted); returns (manifests changed, lines dropped)."""
    if not is_s3_uri(root) and not local_path(root).is_dir():
        return 0, 0
    uris = [f.uri for f in objects.list_files(root) if f.uri.endswith(MANIFEST_SUFFIX)]

    def one(uri: str) -> int:
        text = objects.read_text(uri)
        kept, dropped = filter_manifest(text, drop)
        if dropped and kept.strip():
            objects.write_text(uri, kept)
            versions.purge_old_versions(uri)
        elif dropped:
            versions.purge_object(uri)
        return dropped

    dropped = list(objects.io_pool("erasure-manifests", 8).map(one, uris))
    return sum(1 for d in dropped if d), sum(dropped)


def _read_receipt(store: str, erasure_id: str, tombstone: Tombstone) -> Receipt:
    uri = join_uri(erasure_root(store), receipt_name(erasure_id))
    if objects.exists(uri):
        return Receipt.parse(objects.read_text(uri))
    return Receipt(erasure_id, started_at=tombstone.created_at)


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def erase(request: ErasureRequest, *, wait: bool = False, poll_seconds: float = 30.0) -> Receipt:
    """Passes until the erasure is done (``wait``), or one pass."""
    receipt = erase_pass(request)
    while wait and receipt.status != DONE:
        time.sleep(poll_seconds)
        receipt = erase_pass(request)
    return receipt
