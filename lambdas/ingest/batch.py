"""Pure assembly of one batch: objects from all messages -> manifest text, batch id, execution input."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lambdas.ingest.events import ParsedMessage, UploadedObject
from spark_app.core.manifest import ManifestEntry, batch_id_for, dumps_manifest, manifest_key


@dataclass(frozen=True)
class BatchPlan:
    """Everything needed to commit a batch, computed without AWS."""

    batch_id: str
    entries: tuple[ManifestEntry, ...]
    manifest_text: str
    manifest_bucket: str
    manifest_key: str
    contributing_message_ids: tuple[str, ...]

    @property
    def manifest_uri(self) -> str:
        return f"s3://{self.manifest_bucket}/{self.manifest_key}"

    def execution_input(self) -> str:
        """State-machine input; deterministic so a repeated start is recognised as the same run."""
        return json.dumps(
            {"batch_id": self.batch_id, "manifest_uri": self.manifest_uri, "image_count": len(self.entries)},
            sort_keys=True,
        )


def plan_batch(
    messages: Sequence[tuple[str, ParsedMessage]], *, manifest_bucket: str, manifest_prefix: str
) -> BatchPlan | None:
    """Plan the batch from (message id, parsed message) pairs; None when no object is valid."""
    objects = [obj for _, parsed in messages for obj in parsed.objects]
    if not objects:
        return None
    entries = tuple(latest_per_uri(objects))
    batch_id = batch_id_for(entries)
    contributing = tuple(dict.fromkeys(message_id for message_id, parsed in messages if parsed.objects))
    return BatchPlan(
        batch_id=batch_id,
        entries=entries,
        manifest_text=dumps_manifest(entries),
        manifest_bucket=manifest_bucket,
        manifest_key=manifest_key(manifest_prefix, batch_id),
        contributing_message_ids=contributing,
    )


def latest_per_uri(objects: Iterable[UploadedObject]) -> list[ManifestEntry]:
    """One entry per URI, sorted by URI: the latest upload of a key wins.

    S3 orders events on one key by ``sequencer`` (hex; compared as a number). Ties, or
    events without a sequencer, are broken by content, so the result never depends on
    the order in which messages arrive (a redelivered batch gets the same batch id).
    """
    best: dict[str, UploadedObject] = {}
    for obj in objects:
        current = best.get(obj.entry.uri)
        if current is None or _rank(obj) > _rank(current):
            best[obj.entry.uri] = obj
    return [best[uri].entry for uri in sorted(best)]


def _rank(obj: UploadedObject) -> tuple[int, str, int, str]:
    try:
        sequence = int(obj.sequencer, 16) if obj.sequencer else -1
    except ValueError:
        sequence = -1
    entry = obj.entry
    return (sequence, entry.etag or "", entry.size or 0, entry.label or "")
