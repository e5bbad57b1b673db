"""Versioned models (PCA bases, classifiers) in a folder, and the one promoted version batches use.

Layout of ``<model_dir>``: one folder per version (``<version>/model/`` + a document written last,
e.g. ``explained_variance.json`` for PCA or ``metrics.json`` for a classifier: a version without it is
incomplete) and the ``LATEST`` pointer (the promoted version's name). Version names carry their fit
time (``<kind>-...-YYYYmmddTHHMMSSZ-...``). Only promotion moves ``LATEST``, with a conditional write
(S3 ``If-Match``/``If-None-Match``, a file lock locally): of two concurrent promotions one wins and
the other fails with :class:`PromotionConflict`; a promotion never replaces a version fitted later
than its own unless forced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spark_app import storage
from spark_app.pca import LATEST_POINTER, VARIANCE_FILE, PcaError

NEWEST = "newest"
_VERSION_RE = re.compile(r"^[a-z]+(?:-[a-z0-9]+)*?-(?P<fitted>\d{8}T\d{6}Z)(?:-[0-9a-z]+)*$")


class PromotionError(PcaError):
    """A version that cannot be promoted (incomplete, unknown, older than the promoted one)."""


class PromotionConflict(PromotionError):
    """Another promotion changed LATEST between our read and our write: nothing was changed."""


@dataclass(frozen=True)
class Promotion:
    """What a promotion did."""

    previous: str | None
    current: str
    changed: bool


def fitted_at(version: str) -> str:
    """The fit timestamp encoded in a version name (``YYYYmmddTHHMMSSZ``, sortable)."""
    match = _VERSION_RE.match(version)
    if not match:
        raise PromotionError(f"not a model version name: {version!r}")
    return match["fitted"]


def complete_versions(model_dir: str, marker: str = VARIANCE_FILE) -> list[str]:
    """Versions whose ``marker`` document exists (written last), oldest fit first."""
    try:
        files = storage.list_files(model_dir)
    except storage.StorageError:
        return []
    names = {
        f.relative_path.split("/", 1)[0]
        for f in files
        if f.relative_path.count("/") == 1 and f.relative_path.endswith("/" + marker)
    }
    return sorted((n for n in names if _VERSION_RE.match(n)), key=lambda n: (fitted_at(n), n))


def promoted_version(model_dir: str) -> str | None:
    """The version LATEST points at, or None before the first promotion."""
    pointer = storage.read_text_versioned(storage.join_uri(model_dir, LATEST_POINTER))
    return pointer.text.strip() or None if pointer else None


def promote(model_dir: str, version: str, *, force: bool = False, marker: str = VARIANCE_FILE) -> Promotion:
    """Point LATEST at ``version`` (or ``newest``) atomically; idempotent when it already does."""
    complete = complete_versions(model_dir, marker)
    if version == NEWEST:
        if not complete:
            raise PromotionError(f"no complete version in {model_dir} to promote")
        version = complete[-1]
    if version not in complete:
        raise PromotionError(f"{version} is not a complete version in {model_dir}")
    pointer_uri = storage.join_uri(model_dir, LATEST_POINTER)
    current = storage.read_text_versioned(pointer_uri)
    previous = current.text.strip() if current else None
    if previous == version:
        return Promotion(previous, version, changed=False)
    if previous and not force and _VERSION_RE.match(previous) and fitted_at(previous) > fitted_at(version):
        raise PromotionError(
            f"{previous} (promoted) was fitted after {version}: refusing to go back (use --force)"
        )
    try:
        storage.write_text_if(pointer_uri, version + "\n", expected_etag=current.etag if current else None)
    except storage.ConditionFailed:
        raise PromotionConflict(
            f"LATEST in {model_dir} changed while promoting {version}; now {promoted_version(model_dir)}"
        ) from None
    return Promotion(previous, version, changed=True)
