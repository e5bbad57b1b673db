"""Find the files a run processes: a folder, an S3 prefix, or a manifest of URIs."""

from __future__ import annotations

from dataclasses import dataclass

from spark_app import storage
from spark_app.labels import label_from_relative_path
from spark_app.manifest import ManifestError, parse_manifest


class InputError(ValueError):
    """The run's input cannot be read (missing folder, bucket or manifest, bad manifest)."""


@dataclass(frozen=True)
class InputItem:
    """One file to account for: it becomes a feature row or an error record."""

    uri: str
    label: str | None


def discover_from_root(root: str) -> list[InputItem]:
    """Every file under a folder or S3 prefix, labelled by its parent folder."""
    try:
        listed = storage.list_files(root)
    except storage.StorageError as exc:
        raise InputError(str(exc)) from None
    return [InputItem(uri=f.uri, label=label_from_relative_path(f.relative_path)) for f in listed]


def discover_from_manifest(manifest_uri: str) -> list[InputItem]:
    """The entries of a manifest (see :mod:`spark_app.manifest`)."""
    try:
        text = storage.read_text(manifest_uri)
        entries = parse_manifest(text)
    except (storage.StorageError, ManifestError) as exc:
        raise InputError(f"cannot use manifest {manifest_uri}: {exc}") from None
    return [InputItem(uri=e.uri, label=e.label) for e in entries]
