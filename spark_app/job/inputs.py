"""Find the files a job processes: a folder, an S3 prefix, or a manifest of URIs."""

from __future__ import annotations

from dataclasses import dataclass

from spark_app.core.labels import label_from_relative_path
from spark_app.core.manifest import ManifestError, parse_manifest
from spark_app.store import objects


class InputError(ValueError):
    """The job's input cannot be read (missing folder, bucket or manifest, bad manifest, no files)."""


@dataclass(frozen=True)
class InputItem:
    """One file to account for: it becomes a feature row or an error record."""

    uri: str
    label: str | None


def discover(*, input_root: str | None = None, manifest: str | None = None) -> list[InputItem]:
    """The job's files (a folder or prefix, labelled by parent folder; or a manifest's entries).

    Raises :class:`InputError` when they cannot be listed or there are none.
    """
    items = discover_from_manifest(manifest) if manifest else discover_from_root(input_root or "")
    if not items:
        raise InputError(f"no files found in {manifest or input_root}")
    return items


def discover_from_root(root: str) -> list[InputItem]:
    """Every file under a folder or S3 prefix, labelled by its parent folder."""
    try:
        listed = objects.list_files(root)
    except objects.StorageError as exc:
        raise InputError(str(exc)) from None
    return [InputItem(uri=f.uri, label=label_from_relative_path(f.relative_path)) for f in listed]


def discover_from_manifest(manifest_uri: str) -> list[InputItem]:
    """The entries of a manifest (see :mod:`spark_app.core.manifest`)."""
    try:
        entries = parse_manifest(objects.read_text(manifest_uri))
    except (objects.StorageError, ManifestError) as exc:
        raise InputError(f"cannot use manifest {manifest_uri}: {exc}") from None
    return [InputItem(uri=e.uri, label=e.label) for e in entries]
