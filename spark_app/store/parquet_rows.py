"""Removing rows from a partitioned Parquet dataset, file by file, without Spark (pyarrow in the driver).

Only the files holding a row to remove are rewritten, each in place: S3 replaces an object atomically,
and locally a finished temporary file replaces it (``os.replace``), so a crash leaves each file either
as it was or without the rows, never half-written; running again finishes the work (idempotent). A file
left without rows is deleted, and a partition left without files is deleted with its folder.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from spark_app.core.uris import is_s3_uri, join_uri, local_path
from spark_app.store import objects, versions
from spark_app.store.partitions import partition_name

PATH_COLUMN = "path"
#: Concurrent file checks (each reads one Parquet file).
THREADS = 8


@dataclass
class Cleaning:
    """What one dataset's cleaning did."""

    rows: int = 0
    files_rewritten: int = 0
    files_deleted: int = 0
    #: Batch ids whose partition now holds no file (the folder was deleted).
    emptied: list[str] = field(default_factory=list)
    #: Batch ids left alone: a running writer owns them.
    skipped: list[str] = field(default_factory=list)
    files_read: int = 0


def _batch_of(relative_path: str) -> str | None:
    first = relative_path.split("/", 1)[0]
    return first.split("=", 1)[1] if first.startswith(partition_name("")) else None


def _is_data(relative_path: str) -> bool:
    name = relative_path.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def remove_rows(base: str, drop_path: Callable[[str], bool], *, skip: Callable[[str], bool]) -> Cleaning:
    """Remove the rows of ``base`` (a dataset partitioned by batch id) whose ``path`` ``drop_path`` names,
    except in the partitions ``skip`` names (their batch ids are reported)."""
    result = Cleaning()
    if not is_s3_uri(base) and not local_path(base).is_dir():
        return result
    by_batch: dict[str, list[str]] = {}
    for listed in objects.list_files(base):
        batch = _batch_of(listed.relative_path)
        if batch is not None and _is_data(listed.relative_path):
            by_batch.setdefault(batch, []).append(listed.uri)
    work = []
    for batch, uris in sorted(by_batch.items()):
        if skip(batch):
            result.skipped.append(batch)
        else:
            work += [(batch, uri) for uri in uris]
    outcomes = list(
        objects.io_pool("erasure", THREADS).map(lambda item: _clean_file(item[1], drop_path), work)
    )
    remaining: dict[str, int] = {}
    for (batch, _uri), (removed, kept) in zip(work, outcomes, strict=True):
        result.files_read += 1
        result.rows += removed
        if removed and kept:
            result.files_rewritten += 1
        elif removed:
            result.files_deleted += 1
        remaining[batch] = remaining.get(batch, 0) + (1 if kept else 0)
    for batch, files in sorted(remaining.items()):
        if files == 0:
            versions.purge_prefix(join_uri(base, partition_name(batch)) + "/")
            result.emptied.append(batch)
    return result


def _clean_file(uri: str, drop_path: Callable[[str], bool]) -> tuple[int, int]:
    """(rows removed, rows kept) of one file, rewritten in place or deleted when needed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = objects.read_bytes(uri)
    paths = pq.read_table(io.BytesIO(data), columns=[PATH_COLUMN]).column(PATH_COLUMN).to_pylist()
    mask = [not (isinstance(p, str) and drop_path(p)) for p in paths]
    removed = mask.count(False)
    if not removed:
        return 0, len(paths)
    kept = len(paths) - removed
    if kept == 0:
        _delete(uri)
        return removed, 0
    table = pq.read_table(io.BytesIO(data)).filter(pa.array(mask))
    out = io.BytesIO()
    # INT96 timestamps, as Spark writes them: every file of a partition keeps the same physical types.
    pq.write_table(table, out, compression="snappy", use_deprecated_int96_timestamps=True)
    _replace(uri, out.getvalue())
    return removed, kept


def _replace(uri: str, data: bytes) -> None:
    if is_s3_uri(uri):
        objects.write_bytes(uri, data)  # PutObject replaces the object atomically
        versions.purge_old_versions(uri)  # a versioned bucket keeps the old bytes otherwise
        return
    path = local_path(uri)
    tmp = path.with_name(f".{path.name}.erasure.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    path.with_name(f".{path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the old bytes


def _delete(uri: str) -> None:
    if is_s3_uri(uri):
        versions.purge_object(uri)
        return
    path = local_path(uri)
    path.unlink(missing_ok=True)
    path.with_name(f".{path.name}.crc").unlink(missing_ok=True)
