"""PCA versions and promotion: LATEST only moves by an atomic, conditional promotion."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from spark_app import registry, storage
from spark_app.pca import LATEST_POINTER, VARIANCE_FILE
from spark_app.registry import NEWEST, PromotionConflict, PromotionError, promote, promoted_version

V1 = "pca-k9-20261120T100000Z-6714965a05ee-aaaaaa"
V2 = "pca-k12-20261124T100000Z-6714965a05ee-bbbbbb"
V3 = "pca-k15-20261125T100000Z-6714965a05ee-dddddd"
INCOMPLETE = "pca-k5-20261126T100000Z-6714965a05ee-cccccc"


def _make_versions(model_dir: str) -> None:
    for version in (V1, V2, V3):
        storage.write_text(storage.join_uri(model_dir, version, VARIANCE_FILE), '{"k": 1}')
    # A version being written: its model is there, its explained-variance file (written last) is not.
    storage.write_text(storage.join_uri(model_dir, INCOMPLETE, "model", "metadata", "part-00000"), "{}")


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
    uri = storage.join_uri(model_dir, "pointer")
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
    assert registry.complete_versions(model_dir) == [V1, V2, V3]
    assert promoted_version(model_dir) is None
    done = promote(model_dir, NEWEST)
    assert (done.previous, done.current, done.changed) == (None, V3, True)
    assert promoted_version(model_dir) == V3
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
    stale = storage.read_text_versioned(storage.join_uri(model_dir, LATEST_POINTER))
    promote(model_dir, V2)  # B, between A's read and A's write
    real_read: Callable = storage.read_text_versioned
    with monkeypatch.context() as patch, pytest.raises(PromotionConflict, match="changed while promoting"):
        patch.setattr(
            registry.storage,
            "read_text_versioned",
            lambda uri: stale if uri.endswith(LATEST_POINTER) else real_read(uri),
        )
        promote(model_dir, V3)
    assert promoted_version(model_dir) == V2


def test_concurrent_promotions_leave_one_consistent_pointer(tmp_path) -> None:
    model_dir = str(tmp_path / "pca-models")
    versions = [f"pca-k{k}-20261124T1000{k:02d}Z-6714965a05ee-{k:06x}" for k in range(1, 9)]
    for version in versions:
        storage.write_text(storage.join_uri(model_dir, version, VARIANCE_FILE), "{}")
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
