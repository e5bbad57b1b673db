"""The model registry: versions with their metadata, one loader, LATEST moved only by an atomic promotion."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from spark_app.core.heads import PCA, Basis, Classifier
from spark_app.core.uris import join_uri
from spark_app.models import registry
from spark_app.models.registry import (
    LATEST_POINTER,
    NEWEST,
    PromotionConflict,
    PromotionError,
    RegistryError,
    Version,
    promote,
    promoted_version,
)
from spark_app.store import objects as storage

CNN = "mobilenet_v2_1.0_224_avg@6714965a05ee"
V1, V2, V3 = "pca-k9-a", "pca-k12-b", "pca-k15-c"
INCOMPLETE = "pca-k5-d"
#: Fit times: the names say nothing about them (the registry never parses a name).
FITTED = {V1: "2026-11-20T10:00:00+00:00", V2: "2026-11-24T10:00:00+00:00", V3: "2026-11-25T10:00:00+00:00"}


def _save_pca(model_dir: str, name: str, fitted_at: str, k: int = 3) -> str:
    version = Version(
        name, registry.PCA_KIND, fitted_at, CNN, {"k": k, "explained_variance_ratio": [0.5] * k}
    )
    return registry.save_version(model_dir, version, {"components": np.ones((1280, k), dtype=np.float32)})


def _make_versions(model_dir: str) -> None:
    for name in (V3, V1, V2):  # saved in another order than fitted
        _save_pca(model_dir, name, FITTED[name])
    # A version being written: its arrays are there, its metadata (written last) is not.
    storage.write_bytes(join_uri(model_dir, INCOMPLETE, registry.ARRAYS_FILE), b"partial")


@pytest.fixture(params=["local", "s3"])
def model_dir(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "local":
        root = str(tmp_path / "pca-models")
    else:
        request.getfixturevalue("s3_endpoint")
        root = "s3://results/pca-models"
    _make_versions(root)
    return root


def test_conditional_writes_refuse_a_stale_or_missing_expectation(model_dir: str) -> None:
    uri = join_uri(model_dir, "pointer")
    storage.write_text_if(uri, "a\n", expected_etag=None)
    with pytest.raises(storage.ConditionFailed):
        storage.write_text_if(uri, "b\n", expected_etag=None)  # must not exist yet: it does
    first = storage.read_text_versioned(uri)
    assert first is not None and first.text == "a\n"
    storage.write_text_if(uri, "c\n", expected_etag=first.etag)
    with pytest.raises(storage.ConditionFailed):
        storage.write_text_if(uri, "d\n", expected_etag=first.etag)  # stale: it changed to c
    assert storage.read_text_versioned(uri).text == "c\n"


def test_only_complete_versions_count_and_newest_is_by_fit_time(model_dir: str) -> None:
    assert [v.name for v in registry.complete_versions(model_dir)] == [V1, V2, V3]
    assert promoted_version(model_dir) is None
    assert registry.resolve("latest", model_dir) is None
    done = promote(model_dir, NEWEST)
    assert (done.previous, done.current, done.changed) == (None, V3, True)
    assert promoted_version(model_dir) == V3
    assert registry.resolve("latest", model_dir) == join_uri(model_dir, V3)
    assert promote(model_dir, V3).changed is False  # idempotent
    with pytest.raises(PromotionError, match="not a complete version"):
        promote(model_dir, INCOMPLETE)


def test_an_older_basis_does_not_silently_replace_a_newer_one(model_dir: str) -> None:
    promote(model_dir, V2)
    with pytest.raises(PromotionError, match="fitted after"):
        promote(model_dir, V1)
    assert promoted_version(model_dir) == V2
    assert promote(model_dir, V1, force=True).current == V1


def test_a_promotion_that_lost_the_race_changes_nothing(model_dir: str, monkeypatch) -> None:
    """A reads LATEST, B promotes, A writes with its stale tag: A fails and B's promotion stands."""
    promote(model_dir, V1)
    stale = storage.read_text_versioned(join_uri(model_dir, LATEST_POINTER))
    promote(model_dir, V2)  # B, between A's read and A's write
    real_read: Callable = storage.read_text_versioned
    with monkeypatch.context() as patch, pytest.raises(PromotionConflict, match="changed while promoting"):
        patch.setattr(
            registry.objects,
            "read_text_versioned",
            lambda uri: stale if uri.endswith(LATEST_POINTER) else real_read(uri),
        )
        promote(model_dir, V3)
    assert promoted_version(model_dir) == V2


def test_concurrent_promotions_leave_one_consistent_pointer(tmp_path) -> None:
    model_dir = str(tmp_path / "pca-models")
    versions = [f"pca-k{k}-{k:06x}" for k in range(1, 9)]
    for k, version in enumerate(versions, start=1):
        _save_pca(model_dir, version, f"2026-11-24T10:00:{k:02d}+00:00")
    outcomes: list[str] = []
    barrier = threading.Barrier(len(versions))

    def run(version: str) -> None:
        barrier.wait()
        try:
            outcomes.append("promoted:" + promote(model_dir, version).current)
        except PromotionConflict:
            outcomes.append("conflict")
        except PromotionError:
            outcomes.append("older")

    threads = [threading.Thread(target=run, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = promoted_version(model_dir)
    assert final in versions
    assert f"promoted:{final}" in outcomes and len(outcomes) == len(versions)
    # The pointer names exactly one version (no torn write) and nothing newer was overwritten by an older one.
    text = (tmp_path / "pca-models" / LATEST_POINTER).read_text()
    assert text == final + "\n"
    promoted = [o.split(":", 1)[1] for o in outcomes if o.startswith("promoted:")]
    assert max(promoted) == final


def test_one_loader_for_bases_and_classifiers_reads_the_cnn_from_metadata(tmp_path) -> None:
    uri = _save_pca(str(tmp_path / "pca"), "pca-k3-x", FITTED[V1])
    basis = registry.load_basis(uri)
    assert isinstance(basis, Basis) and basis.k == 3 and basis.model_version == CNN
    clf_version = Version(
        "clf-pca-y",
        registry.CLASSIFIER_KIND,
        FITTED[V2],
        CNN + "-int8",
        {"labels": ["a", "b"], "features": PCA, "pca_version": "pca-k3-x"},
    )
    weights, intercepts = np.arange(6.0).reshape(2, 3), np.array([0.5, -0.5])
    clf_uri = registry.save_version(
        str(tmp_path / "clf"), clf_version, {"weights": weights, "intercepts": intercepts}
    )
    loaded = registry.load_classifier(clf_uri)
    assert isinstance(loaded, Classifier) and loaded.labels == ("a", "b") and loaded.pca_version == "pca-k3-x"
    assert loaded.model_version == CNN + "-int8"  # read from the metadata, not from a name
    np.testing.assert_array_equal(loaded.weights, weights)
    with pytest.raises(RegistryError, match="is a 'clf' version, not a 'pca' one"):
        registry.load_basis(clf_uri)
    with pytest.raises(RegistryError, match="cannot read model version"):
        registry.load_basis(str(tmp_path / "nowhere"))
