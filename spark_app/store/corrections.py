"""People's corrections in the store: write one, read them all, erase an identity's (boto3 or local files).

``<store>/corrections/<identity id>/<photo id>.json``: one small JSON line per photo (the record is
:class:`spark_app.core.corrections.Correction`); writing a photo's correction again replaces it. The
Glue table ``corrections`` reads every object under ``<store>/corrections/`` (no partitions to keep up
to date); training and the local SQL view read them here, in the driver, concurrently. No Spark and no
NumPy: the app's API can ship this module with ``store/objects.py`` and ``core/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from spark_app.core.corrections import Correction, CorrectionError, identity_prefix, parse_correction
from spark_app.core.defaults import CORRECTIONS_DIR
from spark_app.core.uris import is_s3_uri, join_uri, local_path
from spark_app.store import objects

#: Concurrent reads of correction objects (each is a few hundred bytes: latency-bound).
READ_THREADS = 16


def corrections_root(store: str) -> str:
    """``<store>/corrections``: where every identity's corrections are."""
    return join_uri(store, CORRECTIONS_DIR)


def write_correction(store: str, correction: Correction) -> str:
    """Store ``correction`` (replacing an earlier one of the same photo); returns its URI."""
    uri = join_uri(store, correction.key)
    objects.write_text(uri, correction.to_json())
    return uri


def identity_corrections(store: str, identity_id: str) -> list[str]:
    """The URIs of everything ``identity_id`` corrected (nothing when none)."""
    return _listed(join_uri(store, identity_prefix(identity_id)))


def erase_identity_corrections(store: str, identity_id: str) -> int:
    """Delete every correction of ``identity_id``; returns how many objects were deleted (idempotent)."""
    return objects.delete_prefix(join_uri(store, identity_prefix(identity_id)) + "/")


@dataclass(frozen=True)
class ReadCorrections:
    """The corrections under a root, and the objects that are not valid corrections (URI, reason)."""

    records: tuple[Correction, ...]
    unreadable: tuple[tuple[str, str], ...]


def read_corrections(root: str) -> ReadCorrections:
    """Every correction under ``root`` (``<store>/corrections`` or any copy of it); a bad object is
    reported, never fatal; a missing root holds none."""
    uris = [uri for uri in _listed(root) if uri.endswith(".json")]
    results = objects.io_pool("corrections", READ_THREADS).map(_read_one, uris)
    records, unreadable = [], []
    for uri, result in zip(uris, results, strict=True):
        if isinstance(result, Correction):
            records.append(result)
        else:
            unreadable.append((uri, result))
    return ReadCorrections(tuple(records), tuple(unreadable))


def _read_one(uri: str) -> Correction | str:
    try:
        correction = parse_correction(objects.read_text(uri))
    except (objects.StorageError, CorrectionError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not uri.endswith("/" + correction.key):  # erasing an identity's prefix must remove all of its own
        return f"a correction of {correction.key} stored elsewhere"
    return correction


def _listed(root: str) -> list[str]:
    if not is_s3_uri(root) and not local_path(root).is_dir():
        return []  # a local store without any correction yet (an S3 prefix without objects lists nothing)
    return [f.uri for f in objects.list_files(root)]
