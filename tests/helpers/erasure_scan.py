"""The proof that an erasure left nothing: every key and every byte of every object (all versions, in
every bucket) and of every local file, searched for an identity id, its photos' keys and image ids.

Parquet is compressed, so its rows are decoded and searched one by one (a finding names the row's
``path``: rows of the same bytes that another identity uploaded are the one allowed exception).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Finding:
    """A needle found: where (URI or path, with the version or row) and, in a Parquet row, its path."""

    where: str
    needle: str
    row_path: str | None = None


def scan_bytes(where: str, data: bytes, needles: Iterable[str]) -> list[Finding]:
    """The needles in one object's name and content."""
    needles = [n for n in needles if n]
    found = [Finding(f"{where} (name)", n) for n in needles if n in where]
    if data[:4] == b"PAR1":
        return found + _scan_parquet(where, data, needles)
    text = data.decode("utf-8", errors="replace")
    return found + [Finding(where, n) for n in needles if n in text]


def _scan_parquet(where: str, data: bytes, needles: list[str]) -> list[Finding]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    texts = [
        name
        for name, kind in zip(table.column_names, table.schema.types, strict=True)
        if pa.types.is_string(kind) or (pa.types.is_list(kind) and pa.types.is_string(kind.value_type))
    ]
    found = []
    for number, row in enumerate(table.select(texts).to_pylist()):
        text = repr(row)
        found += [Finding(f"{where}#row{number}", n, row.get("path")) for n in needles if n in text]
    return found


def scan_local(root: Path, needles: Iterable[str]) -> list[Finding]:
    """Every file under ``root`` (names included)."""
    needles = list(needles)
    return [
        finding
        for path in sorted(p for p in root.rglob("*") if p.is_file())
        for finding in scan_bytes(str(path), path.read_bytes(), needles)
    ]


def scan_s3(client: Any, needles: Iterable[str]) -> list[Finding]:
    """Every version of every object of every bucket the client sees (keys of delete markers too)."""
    needles = list(needles)
    found: list[Finding] = []
    for bucket in (b["Name"] for b in client.list_buckets()["Buckets"]):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for marker in page.get("DeleteMarkers", []):
                found += [
                    Finding(f"s3://{bucket}/{marker['Key']} (delete marker)", n)
                    for n in needles
                    if n in marker["Key"]
                ]
            for version in page.get("Versions", []):
                key, version_id = version["Key"], version["VersionId"]
                body = client.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
                found += scan_bytes(f"s3://{bucket}/{key}?versionId={version_id}", body, needles)
    return found
