"""Erasing one app identity (GDPR Art. 17): what to delete, the tombstone, the writers' leases and the
receipt. Pure: no Spark, no AWS (``store/erasure.py`` runs it, ``cli/erase.py`` is the command).

Everything of an identity is found by its id: the prefixes ``incoming/<id>/`` and ``uploads/<id>/`` of
the ingestion bucket, ``<answers>/uploads/<id>/``, ``<store>/corrections/<id>/``, the feature and error
rows and manifest lines whose URI names ``uploads/<id>/``, and the identity table's items.

The protocol with concurrent writers (docs/gdpr.md):

1. the erasure writes a **tombstone** named by the sha256 of the identity id (never the id itself);
2. every writer of per-upload outputs (a batch, a PCA back-fill) writes a **lease** first, then reads the
   tombstones and drops the uploads of tombstoned identities; the answer Lambda checks before and after
   writing an answer;
3. each erasure **pass** deletes and rewrites everything it finds, except the partitions a live lease
   owns; it is repeated until a pass ran with no lease blocking it (every writer that may have missed the
   tombstone has finished, and was cleaned after) and the tombstone's hold is over; then the tombstone goes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from spark_app.core.corrections import IDENTITY_PATTERN, check_identity
from spark_app.core.defaults import CORRECTIONS_DIR, ERASURE_DIR
from spark_app.core.uris import join_uri

TOMBSTONES, LEASES, RECEIPTS = "tombstones", "leases", "receipts"
#: A lease over every partition (a PCA back-fill rewrites them all).
ALL_PARTITIONS = "*"
DONE, PENDING = "done", "pending"
#: Where the app's door commits uploads (``uploads/<identity id>/<photo>.<ext>``; the stack's default).
APP_UPLOADS_PREFIX = "uploads/"
_ERASURE_ID = re.compile(r"[0-9a-f]{32}")


class ErasureError(ValueError):
    """An erasure that cannot start (the message says why, in one line)."""


def identity_digest(identity_id: str) -> str:
    """The sha256 (hex) of an identity id: what tombstones are named by.

    A plain hash is enough: a guest identity id is ``<region>:<uuid4>`` (122 random bits), so its digest
    cannot be inverted by guessing; whoever knows the id can recognise it, which is what a writer needs.
    """
    return hashlib.sha256(identity_id.encode("utf-8")).hexdigest()


def check_erasure_id(erasure_id: str) -> str:
    """``erasure_id`` if it is 32 lower-case hex digits (a receipt's name)."""
    if not isinstance(erasure_id, str) or _ERASURE_ID.fullmatch(erasure_id) is None:
        raise ErasureError(f"erasure id {erasure_id!r} is not 32 lower-case hex digits")
    return erasure_id


def identity_in(uri: str, uploads_prefix: str) -> str | None:
    """The identity whose upload ``uri`` is (``.../<uploads prefix><identity id>/...``), else None.

    Uploads that are not an app identity's (``uploads/Kiwi/x.jpg``, ``curated/...``) name none.
    """
    marker = "/" + uploads_prefix.strip("/") + "/"
    start = 0
    while (at := uri.find(marker, start)) >= 0:
        segment, slash, _ = uri[at + len(marker) :].partition("/")
        if slash and IDENTITY_PATTERN.fullmatch(segment):
            return segment
        start = at + 1
    return None


def names_identity(uri: str, identity_id: str, uploads_prefix: str) -> bool:
    """True when ``uri`` is one of ``identity_id``'s uploads (or anything named after one)."""
    return identity_in(uri, uploads_prefix) == identity_id


def tombstoned(uri: str, digests: Iterable[str] | set[str], uploads_prefix: str) -> bool:
    """True when ``uri`` is an upload of an identity whose digest is in ``digests``."""
    identity = identity_in(uri, uploads_prefix)
    return identity is not None and identity_digest(identity) in digests


@dataclass(frozen=True)
class Layout:
    """Where one deployment keeps what an identity sends (URIs without a trailing slash)."""

    #: The feature store (the job's ``--output``): features, errors, corrections, erasure bookkeeping.
    store: str
    #: The ingestion bucket's root (``s3://<bucket>``), with its staged and uploads prefixes.
    ingest: str | None = None
    staging_prefix: str = "incoming/"
    uploads_prefix: str = APP_UPLOADS_PREFIX
    #: The answers root (``s3://<results>/answers``): an upload's answer is ``<root>/<upload key>.json``.
    answers: str | None = None
    #: The manifests' root (``s3://<ingestion>/manifests``).
    manifests: str | None = None

    @property
    def erasure_root(self) -> str:
        return join_uri(self.store, ERASURE_DIR)


def erasure_prefixes(layout: Layout, identity_id: str) -> dict[str, str]:
    """Every prefix holding only ``identity_id``'s objects, by kind (``<uri>/``, to delete whole)."""
    identity = check_identity(identity_id)
    uploads = layout.uploads_prefix.strip("/")
    prefixes = {"corrections": join_uri(layout.store, CORRECTIONS_DIR, identity) + "/"}
    if layout.ingest:
        prefixes["staged"] = join_uri(layout.ingest, layout.staging_prefix.strip("/"), identity) + "/"
        prefixes["uploads"] = join_uri(layout.ingest, uploads, identity) + "/"
    if layout.answers:
        prefixes["answers"] = join_uri(layout.answers, uploads, identity) + "/"
    return prefixes


def filter_manifest(text: str, drop: Callable[[str], bool]) -> tuple[str, int]:
    """``text`` without the JSON lines whose ``uri`` ``drop`` names, and how many were dropped.

    Other lines are kept byte for byte (a line that is not JSON is kept: the job reports it).
    """
    kept, dropped = [], 0
    for line in text.splitlines(keepends=True):
        try:
            uri = json.loads(line).get("uri") if line.strip() else None
        except (json.JSONDecodeError, AttributeError):
            uri = None
        if isinstance(uri, str) and drop(uri):
            dropped += 1
        else:
            kept.append(line)
    return "".join(kept), dropped


# ------------------------------------------------------------------------------- records


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An ISO time written by :func:`_iso` (UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Tombstone:
    """An erasure in progress: ``<store>/erasure/tombstones/<digest>.json``. No identity id in clear."""

    digest: str
    erasure_id: str
    created_at: str
    hold_until: str

    @classmethod
    def new(cls, identity_id: str, erasure_id: str, now: datetime, hold_seconds: float) -> Tombstone:
        return cls(
            identity_digest(identity_id),
            check_erasure_id(erasure_id),
            _iso(now),
            _iso(now + timedelta(seconds=hold_seconds)),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> Tombstone:
        data = json.loads(text)
        return cls(**{k: str(data[k]) for k in ("digest", "erasure_id", "created_at", "hold_until")})


def tombstone_name(digest: str) -> str:
    """Relative to the erasure root."""
    return f"{TOMBSTONES}/{digest}.json"


@dataclass(frozen=True)
class Lease:
    """A writer at work: ``<store>/erasure/leases/<holder>.json``; ``partition`` is the batch id it
    writes, or :data:`ALL_PARTITIONS`."""

    holder: str
    partition: str
    started_at: str
    expires_at: str

    @classmethod
    def new(cls, holder: str, partition: str, now: datetime, seconds: float) -> Lease:
        return cls(holder, partition, _iso(now), _iso(now + timedelta(seconds=seconds)))

    def live(self, now: datetime) -> bool:
        return parse_time(self.expires_at) > now

    def owns(self, batch_id: str) -> bool:
        return self.partition in (ALL_PARTITIONS, batch_id)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> Lease:
        data = json.loads(text)
        return cls(**{k: str(data[k]) for k in ("holder", "partition", "started_at", "expires_at")})


def blocked(batch_id: str, leases: Iterable[Lease], now: datetime) -> bool:
    """True when a live lease owns ``batch_id``'s partition (the erasure leaves it for the next pass)."""
    return any(lease.live(now) and lease.owns(batch_id) for lease in leases)


@dataclass
class Receipt:
    """What an erasure did: counts and times only (``<store>/erasure/receipts/<erasure id>.json``).

    No identity id, digest, key, image id or label: the receipt outlives the erasure on purpose.
    """

    erasure_id: str
    status: str = PENDING
    started_at: str = ""
    finished_at: str | None = None
    passes: int = 0
    #: Objects or rows removed, by kind (summed over the passes).
    counts: dict[str, int] = field(default_factory=dict)
    #: Why the last pass did not finish (leases of running writers, the hold), as counts and times.
    waiting_for: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, counts: dict[str, int]) -> None:
        for kind, number in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + int(number)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)

    @classmethod
    def parse(cls, text: str) -> Receipt:
        return cls(**json.loads(text))


def receipt_name(erasure_id: str) -> str:
    """Relative to the erasure root."""
    return f"{RECEIPTS}/{check_erasure_id(erasure_id)}.json"


def finished(waiting_leases: int, now: datetime, tombstone: Tombstone) -> bool:
    """An erasure is done once a pass ran with no lease blocking it, after its tombstone's hold."""
    return waiting_leases == 0 and now >= parse_time(tombstone.hold_until)
