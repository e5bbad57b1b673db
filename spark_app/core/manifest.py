"""The manifest: the list of objects one pipeline run processes.

One definition, used by the ingest Lambda (which writes manifests) and by spark_app
(which reads them). Format: UTF-8 JSON Lines, one object per line::

    {"uri": "s3://bucket/uploads/Kiwi/img 1.jpg", "label": "Kiwi", "size": 5120, "etag": "9b2c..."}

- ``uri`` (required): ``s3://bucket/key`` (key not URL-encoded), an absolute local path,
  or a ``file://`` URI.
- ``label`` (optional, string or null): the class, when known.
- ``size`` (optional, integer bytes) and ``etag`` (optional string): as reported by S3.

Blank lines are ignored; a repeated ``uri`` is kept once (first occurrence). Any other
malformed line makes the whole manifest invalid, with the line number in the error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

MANIFEST_SUFFIX = ".jsonl"
#: Prefix of batch ids derived from content; also a valid Step Functions execution name start.
BATCH_ID_PREFIX = "batch-"


class ManifestError(ValueError):
    """A manifest that cannot be read."""


@dataclass(frozen=True)
class ManifestEntry:
    """One object to process."""

    uri: str
    label: str | None = None
    size: int | None = None
    etag: str | None = None


def dumps_manifest(entries: Iterable[ManifestEntry]) -> str:
    """Serialise entries to manifest text (sorted by URI; a repeated URI keeps its first entry)."""
    unique = _first_per_uri(entries)
    lines = [json.dumps(asdict(unique[uri]), ensure_ascii=False, sort_keys=True) for uri in sorted(unique)]
    return "\n".join(lines) + ("\n" if lines else "")


def _first_per_uri(entries: Iterable[ManifestEntry]) -> dict[str, ManifestEntry]:
    unique: dict[str, ManifestEntry] = {}
    for entry in entries:
        unique.setdefault(entry.uri, entry)
    return unique


def parse_manifest(text: str) -> list[ManifestEntry]:
    """Parse manifest text; raises ManifestError naming the first bad line."""
    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        entry = _parse_line(line, number)
        if entry.uri not in seen:
            seen.add(entry.uri)
            entries.append(entry)
    return entries


def _parse_line(line: str, number: int) -> ManifestEntry:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest line {number}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ManifestError(f"manifest line {number}: expected a JSON object")
    uri = obj.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        raise ManifestError(f"manifest line {number}: 'uri' must be a non-empty string")
    if not uri.startswith(("s3://", "file://", "/")):
        raise ManifestError(
            f"manifest line {number}: 'uri' {uri!r} is relative: use s3://bucket/key, an absolute path "
            "or a file:// URI (a relative path would depend on where the job runs)"
        )
    label, size, etag = obj.get("label"), obj.get("size"), obj.get("etag")
    if label is not None and not isinstance(label, str):
        raise ManifestError(f"manifest line {number}: 'label' must be a string or null")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ManifestError(f"manifest line {number}: 'size' must be a non-negative integer")
    if etag is not None and not isinstance(etag, str):
        raise ManifestError(f"manifest line {number}: 'etag' must be a string or null")
    return ManifestEntry(uri=uri, label=label, size=size, etag=etag)


def batch_id_for(entries: Iterable[ManifestEntry]) -> str:
    """Deterministic batch id from the content (URI + ETag of each URI's first entry, order-free).

    The same set of objects always gives the same id: it names the manifest, the
    state-machine execution and the output partition, which makes re-runs idempotent.
    """
    digest = hashlib.sha256()
    for key in sorted(f"{e.uri}\t{e.etag or ''}" for e in _first_per_uri(entries).values()):
        digest.update(key.encode("utf-8"))
        digest.update(b"\n")
    return BATCH_ID_PREFIX + digest.hexdigest()[:32]


def manifest_key(prefix: str, batch_id: str) -> str:
    """Object key of a batch's manifest under ``prefix`` (e.g. ``manifests/``)."""
    return (
        f"{prefix.strip('/')}/{batch_id}{MANIFEST_SUFFIX}"
        if prefix.strip("/")
        else batch_id + MANIFEST_SUFFIX
    )
