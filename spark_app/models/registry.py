"""The model registry: versioned PCA bases and classifiers in a folder, and the one promoted version.

Layout of a registry folder (``pca_models/``, ``classifiers/``, or their S3 prefixes)::

    <name>/arrays.npz       the model's arrays (NumPy, no pickle): what every consumer loads
    <name>/version.json     its metadata (kind, fit time, the CNN's model_version, metrics...),
                            written last: a version without it is incomplete
    LATEST                  the promoted version's name

Version names are made here only (:func:`new_version_name`) and never parsed: what a version is
(its CNN, its fit time) is read from its metadata. Only promotion moves ``LATEST``, with a conditional
write (S3 ``If-Match``/``If-None-Match``, a file lock locally): of two concurrent promotions one wins
and the other fails with :class:`PromotionConflict` (S3's 409 ConditionalRequestConflict, where nothing
was decided, is re-read and retried); a promotion never replaces a version fitted later than its own
unless forced. Loading needs no Spark: the answer Lambda uses the same loader as the job.
"""

from __future__ import annotations

import io
import json
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from spark_app.core.defaults import LATEST
from spark_app.core.heads import LOGISTIC, NEAREST, Basis, Classifier, unit_rows
from spark_app.core.uris import join_uri
from spark_app.store import objects

ARRAYS_FILE = "arrays.npz"
VERSION_FILE = "version.json"
LATEST_POINTER = "LATEST"
#: ``promote --version newest``: the complete version fitted last.
NEWEST = "newest"
#: Kinds of versions (the first word of their names).
PCA_KIND, CLASSIFIER_KIND = "pca", "clf"
#: Promotion attempts while S3 answers 409 ConditionalRequestConflict, and the first pause (doubled
#: each time, with jitter).
CONFLICT_ATTEMPTS, CONFLICT_PAUSE_SECONDS = 5, 0.2


class RegistryError(ValueError):
    """A version that cannot be saved, found or loaded (the message says why)."""


class PromotionError(RegistryError):
    """A version that cannot be promoted (incomplete, unknown, older than the promoted one)."""


class PromotionConflict(PromotionError):
    """Another promotion changed LATEST between our read and our write: nothing was changed."""


@dataclass(frozen=True)
class Version:
    """A saved version's metadata (its ``version.json``)."""

    name: str
    kind: str
    fitted_at: str  # ISO 8601, UTC
    model_version: str  # the CNN whose features it was made from
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        document = {
            "name": self.name,
            "kind": self.kind,
            "fitted_at": self.fitted_at,
            "model_version": self.model_version,
        }
        return json.dumps({**document, **self.info}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Version:
        document = json.loads(text)
        core = {key: document.pop(key) for key in ("name", "kind", "fitted_at", "model_version")}
        return cls(**core, info=document)


def new_version_name(kind: str, detail: str, fitted_at: datetime) -> str:
    """e.g. ``pca-k42-20261123T101500Z-3f9a1c``: kind, a detail, the fit time, a random tag (two fits of
    the same second stay apart)."""
    return f"{kind}-{detail}-{fitted_at.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def save_version(
    model_dir: str,
    version: Version,
    arrays: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> str:
    """Write ``<model_dir>/<name>/``: the arrays and extra files first, the metadata last; returns its URI."""
    uri = join_uri(model_dir, version.name)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    objects.write_bytes(join_uri(uri, ARRAYS_FILE), buffer.getvalue())
    for name, data in (extra_files or {}).items():
        objects.write_bytes(join_uri(uri, name), data)
    objects.write_text(join_uri(uri, VERSION_FILE), version.to_json())
    return uri


def read_version(uri: str) -> Version:
    """The metadata of the version at ``uri``."""
    try:
        return Version.from_json(objects.read_text(join_uri(uri, VERSION_FILE)))
    except (objects.StorageError, ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"cannot read model version {uri}: {str(exc).splitlines()[0]}") from None


def read_arrays(uri: str) -> dict[str, np.ndarray]:
    """The arrays of the version at ``uri``."""
    try:
        data = objects.read_bytes(join_uri(uri, ARRAYS_FILE))
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}
    except (objects.StorageError, ValueError, OSError) as exc:
        raise RegistryError(
            f"cannot read the arrays of model version {uri}: {str(exc).splitlines()[0]}"
        ) from None


def load_basis(uri: str) -> Basis:
    """A saved PCA basis (one metadata read, one arrays read)."""
    version = _expect(read_version(uri), PCA_KIND, uri)
    return Basis(
        version=version.name,
        components=read_arrays(uri)["components"],
        model_version=version.model_version,
        explained_variance=tuple(float(v) for v in version.info.get("explained_variance_ratio", ())),
    )


def load_classifier(uri: str) -> Classifier:
    """A saved classifier (one metadata read, one arrays read): a logistic regression's coefficients, or
    a nearest-neighbour head's training features (stored float16, used as float32 unit rows)."""
    version = _expect(read_version(uri), CLASSIFIER_KIND, uri)
    arrays = read_arrays(uri)
    common = {
        "version": version.name,
        "labels": tuple(version.info["labels"]),
        "features": version.info["features"],
        "model_version": version.model_version,
        "pca_version": version.info.get("pca_version"),
    }
    if version.info.get("head", LOGISTIC) == NEAREST:
        return Classifier(
            **common,
            weights=None,
            intercepts=None,
            head=NEAREST,
            prototypes=unit_rows(arrays["prototypes"]),
            prototype_labels=arrays["prototype_labels"],
            temperature=float(version.info["temperature"]),
        )
    return Classifier(**common, weights=arrays["weights"], intercepts=arrays["intercepts"])


def promoted_classifier_info(classifier_dir: str) -> dict[str, Any] | None:
    """The promoted classifier's metadata (its ``version.json`` fields), or None before the first one."""
    name = promoted_version(classifier_dir)
    return None if name is None else read_version(join_uri(classifier_dir, name)).info


def _expect(version: Version, kind: str, uri: str) -> Version:
    if version.kind != kind:
        raise RegistryError(f"{uri} is a {version.kind!r} version, not a {kind!r} one")
    return version


def resolve(reference: str, model_dir: str | None) -> str | None:
    """URI of a version: ``latest`` is the promoted one in ``model_dir`` (None before the first
    promotion); anything else is a version's URI."""
    if reference != LATEST:
        return reference
    if not model_dir:
        raise RegistryError(f"'{LATEST}' needs the registry folder (--pca-model-dir / --classifier-dir)")
    name = promoted_version(model_dir)
    return join_uri(model_dir, name) if name else None


def complete_versions(model_dir: str) -> list[Version]:
    """Versions whose metadata exists (written last), oldest fit first."""
    try:
        files = objects.list_files(model_dir)
    except objects.StorageError:
        return []
    names = sorted(
        {
            f.relative_path.split("/", 1)[0]
            for f in files
            if f.relative_path.count("/") == 1 and f.relative_path.endswith("/" + VERSION_FILE)
        }
    )
    versions = [read_version(join_uri(model_dir, name)) for name in names]
    return sorted(versions, key=lambda v: (v.fitted_at, v.name))


def promoted_version(model_dir: str) -> str | None:
    """The version LATEST points at, or None before the first promotion."""
    pointer = objects.read_text_versioned(join_uri(model_dir, LATEST_POINTER))
    return pointer.text.strip() or None if pointer else None


@dataclass(frozen=True)
class Promotion:
    """What a promotion did."""

    previous: str | None
    current: str
    changed: bool


#: ``promote(expect_previous=ANY)``: whatever LATEST names now.
ANY = object()


def promote(
    model_dir: str, version: str = NEWEST, *, force: bool = False, expect_previous: object = ANY
) -> Promotion:
    """Point LATEST at ``version`` (or ``newest``) atomically; idempotent when it already does.

    ``expect_previous``: promote only if LATEST still names that version (None: nothing promoted), as
    the classifier's promotion gate requires (it compared the new version with that one).
    """
    complete = {v.name: v for v in complete_versions(model_dir)}
    if version == NEWEST:
        if not complete:
            raise PromotionError(f"no complete version in {model_dir} to promote")
        version = list(complete)[-1]
    if version not in complete:
        raise PromotionError(f"{version} is not a complete version in {model_dir}")
    attempt = 1
    while True:
        try:
            return _move_latest(model_dir, version, complete, force, expect_previous)
        except objects.ConditionConflict:
            # S3's 409: another request on LATEST was in flight and nothing was decided. As the S3
            # documentation says: read the object again and retry (the checks run again too).
            if attempt == CONFLICT_ATTEMPTS:
                raise PromotionConflict(
                    f"LATEST in {model_dir} stayed in conflict (409) for {attempt} attempts while "
                    f"promoting {version}; nothing was changed"
                ) from None
            time.sleep(CONFLICT_PAUSE_SECONDS * 2 ** (attempt - 1) * (1 + random.random()))
            attempt += 1


def _move_latest(
    model_dir: str, version: str, complete: dict[str, Version], force: bool, expect_previous: object
) -> Promotion:
    """One read of LATEST and one conditional write of it (:class:`ConditionConflict` on S3's 409)."""
    pointer_uri = join_uri(model_dir, LATEST_POINTER)
    current = objects.read_text_versioned(pointer_uri)
    previous = current.text.strip() if current else None
    if previous == version:
        return Promotion(previous, version, changed=False)
    if expect_previous is not ANY and previous != expect_previous:
        raise PromotionError(
            f"LATEST in {model_dir} names {previous or 'nothing'}, not {expect_previous or 'nothing'} "
            f"(expected): nothing changed"
        )
    promoted = complete.get(previous) if previous else None
    if promoted is not None and not force and promoted.fitted_at > complete[version].fitted_at:
        raise PromotionError(
            f"{previous} (promoted) was fitted after {version}: refusing to go back (use --force)"
        )
    try:
        objects.write_text_if(pointer_uri, version + "\n", expected_etag=current.etag if current else None)
    except objects.ConditionConflict:
        raise
    except objects.ConditionFailed:
        raise PromotionConflict(
            f"LATEST in {model_dir} changed while promoting {version}; now {promoted_version(model_dir)}"
        ) from None
    return Promotion(previous, version, changed=True)
