"""One basis for the whole store: fit over every batch, promote, back-fill every batch onto it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from spark_app.pca import PcaError
from spark_app.pca_cli import main as pca_main
from spark_app.pca_store import backfill, enough_images, fit_over_store
from spark_app.registry import complete_versions, promote, promoted_version

pytestmark = pytest.mark.spark
DIM = 1280
MODEL = "mobilenet_v2_1.0_224_avg@6714965a05ee"


def _batch_rows(batch_id: str, ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Rows shaped like the job's features dataset, before any basis exists (pca null)."""
    basis = rng.normal(size=(6, DIM))  # features near a 6-dimensional subspace, plus noise
    feats = rng.normal(size=(len(ids), 6)) @ basis + 0.01 * rng.normal(size=(len(ids), DIM))
    return pd.DataFrame(
        {
            "image_id": ids,
            "path": [f"s3://ingest/uploads/{i}.jpg" for i in ids],
            "label": ["Apple"] * len(ids),
            "width": 100,
            "height": 100,
            "features": [f.astype(np.float32) for f in feats],
            "pca": None,
            "model_version": MODEL,
            "pca_version": None,
            "processing_ms": 1.0,
            "processed_at": datetime(2026, 11, 24, tzinfo=UTC),
            "batch_id": batch_id,
        }
    )


SCHEMA = (
    "image_id string, path string, label string, width int, height int, features array<float>, "
    "pca array<float>, model_version string, pca_version string, processing_ms double, "
    "processed_at timestamp, batch_id string"
)


@pytest.fixture
def store(spark, tmp_path) -> str:
    rng = np.random.default_rng(7)
    first = _batch_rows("batch-a", [f"a{i}" for i in range(30)], rng)
    # The second batch re-delivers two images of the first (same image ids): counted once.
    second = _batch_rows("batch-b", [f"b{i}" for i in range(28)] + ["a0", "a1"], rng)
    root = tmp_path / "store"
    frame = spark.createDataFrame(pd.concat([first, second], ignore_index=True), SCHEMA)
    frame.write.partitionBy("batch_id").parquet(str(root / "features"))
    return str(root)


def _rows(spark, store: str) -> pd.DataFrame:
    return spark.read.parquet(f"{store}/features").toPandas()


def test_size_rule() -> None:
    assert enough_images(1000, 9, 1000) and not enough_images(999, 9, 1000)
    assert not enough_images(1000, 300, 1000)  # 4 images per component


def test_fit_over_two_batches_gives_one_version_and_refuses_small_stores(spark, store, tmp_path) -> None:
    models = str(tmp_path / "pca-models")
    with pytest.raises(PcaError, match=r"58 distinct images .* at least 1000"):
        fit_over_store(spark, store, models, k=4)
    assert complete_versions(models) == []
    fitted = fit_over_store(spark, store, models, k=4, min_images=50)
    assert complete_versions(models) == [fitted.result.version]
    assert fitted.fitted_on["images"] == 58  # 60 rows, two re-delivered images
    assert fitted.fitted_on["batches"] == ["batch-a", "batch-b"]
    assert fitted.fitted_on["model_version"] == MODEL
    assert promoted_version(models) is None  # fitting never promotes
    capped = fit_over_store(spark, store, models, k=4, min_images=20, sample_cap=20)
    assert capped.fitted_on["images"] == 20


def test_backfill_puts_every_row_of_every_batch_on_the_promoted_basis(spark, store, tmp_path) -> None:
    models = str(tmp_path / "pca-models")
    with pytest.raises(PcaError, match="no promoted PCA basis"):
        backfill(spark, store, models)
    fitted = fit_over_store(spark, store, models, k=5, min_images=50)
    promote(models, fitted.result.version)
    before = _rows(spark, store)

    report = backfill(spark, store, models)

    after = _rows(spark, store)
    assert report.rewritten == {"batch-a": 30, "batch-b": 30} and report.skipped == []
    assert after.groupby("batch_id").size().to_dict() == before.groupby("batch_id").size().to_dict()
    assert set(after["pca_version"]) == {fitted.result.version}
    assert {len(p) for p in after["pca"]} == {5}
    # Nothing else changed, and pca = x . components (pyspark.ml PCAModel semantics).
    merged = before.merge(after, on=["batch_id", "image_id"], suffixes=("_before", ""))
    assert len(merged) == len(before)
    for column in ("path", "label", "model_version", "processed_at"):
        assert (merged[f"{column}_before"] == merged[column]).all()
    components = np.asarray(fitted.result.model.pc.toArray())
    expected = np.stack(merged["features"].to_numpy()) @ components
    np.testing.assert_allclose(np.stack(merged["pca"].to_numpy()), expected, rtol=1e-4, atol=1e-3)

    again = backfill(spark, store, models)  # idempotent: nothing left to do
    assert again.rewritten == {} and again.skipped == ["batch-a", "batch-b"]


def test_the_pca_command_fits_promotes_and_backfills(spark, store, tmp_path, capsys) -> None:
    models = str(tmp_path / "pca-models")
    assert pca_main(["promote", "--pca-model-dir", models]) == 2
    assert "no complete version" in capsys.readouterr().err
    # The command reuses the running session (and leaves it running).
    assert (
        pca_main(["fit", "--store", store, "--pca-model-dir", models, "--pca-k", "3", "--min-images", "10"])
        == 0
    )
    version = complete_versions(models)[0]
    assert pca_main(["promote", "--pca-model-dir", models]) == 0
    assert promoted_version(models) == version
    assert pca_main(["backfill", "--store", store, "--pca-model-dir", models]) == 0
    assert set(_rows(spark, store)["pca_version"]) == {version}


def test_a_batch_write_keeps_other_batches_whatever_the_session_setting(spark, store) -> None:
    """Dynamic overwrite is set on the writer: a session configured 'static' still replaces one batch."""
    from spark_app.partitions import replace_partition

    previous = spark.conf.get("spark.sql.sources.partitionOverwriteMode")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "static")
    try:
        rows = _rows(spark, store)
        only_b = spark.createDataFrame(rows[rows["batch_id"] == "batch-b"].head(3), SCHEMA)
        replace_partition(spark, only_b, f"{store}/features", "batch-b")
    finally:
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", previous)
    after = _rows(spark, store).groupby("batch_id").size().to_dict()
    assert after == {"batch-a": 30, "batch-b": 3}
