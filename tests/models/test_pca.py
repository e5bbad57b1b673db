"""One basis for the whole store: fit over every batch (pyspark.ml PCA or NumPy), promote, back-fill."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from spark_app.cli.pca import main as pca_main
from spark_app.core.heads import Heads, apply_heads
from spark_app.models import registry
from spark_app.models.pca import (
    NATIVE,
    SOLVERS,
    SPARK,
    PcaError,
    Spectrum,
    backfill,
    check_agreement,
    fit_over_store,
    fit_spectrum,
)
from spark_app.models.registry import promote, promoted_version
from tests.models.test_pca_math import pca_features

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


def complete_versions(model_dir: str) -> list[str]:
    return [v.name for v in registry.complete_versions(model_dir)]


def _numpy_pca(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centered = x - x.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(centered.T @ centered / (len(x) - 1))
    order = np.argsort(eigvals)[::-1]
    return eigvals[order] / eigvals.sum(), eigvecs[:, order]


@pytest.mark.parametrize("solver", SOLVERS)
def test_both_solvers_match_numpy(spark, solver: str) -> None:
    x = pca_features()
    rows = spark.createDataFrame([(row.astype(np.float32).tolist(),) for row in x], "features array<float>")
    spectrum = fit_spectrum(rows.cache(), solver=solver)
    expected, eigvecs = _numpy_pca(x.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(spectrum.ratios[:40], expected[:40], rtol=1e-4, atol=1e-9)
    pc = spectrum.components[:, :10]
    assert spectrum.components.shape == (DIM, DIM)
    np.testing.assert_allclose(pc.T @ pc, np.eye(10), atol=1e-9)
    alignment = np.abs(np.sum(pc * eigvecs[:, :10], axis=0))
    np.testing.assert_allclose(alignment, 1.0, atol=1e-5)


def test_a_pyspark_fit_that_disagrees_with_the_covariance_is_refused() -> None:
    """pyspark.ml 3.5.6's PCA.fit sometimes returns a wrong spectrum for real features (docs/analysis.md):
    the spark solver is checked against the native sums of the same rows."""
    reference = Spectrum(np.eye(4), np.array([0.5, 0.3, 0.15, 0.05]))
    check_agreement(Spectrum(-np.eye(4), reference.ratios.copy()), reference)  # signs may differ
    with pytest.raises(PcaError, match="disagrees with the covariance"):
        check_agreement(Spectrum(np.eye(4), np.array([0.25, 0.25, 0.25, 0.25])), reference)
    with pytest.raises(PcaError, match="disagrees with the covariance"):
        check_agreement(Spectrum(np.eye(4)[:, ::-1], reference.ratios.copy()), reference)


def test_native_solver_equals_pyspark_ml_pca_fit(spark) -> None:
    x = pca_features()
    rows = spark.createDataFrame(
        [(row.astype(np.float32).tolist(),) for row in x], "features array<float>"
    ).cache()
    native, ml = fit_spectrum(rows, solver=NATIVE), fit_spectrum(rows, solver=SPARK)
    np.testing.assert_allclose(native.ratios[:40], ml.ratios[:40], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(np.abs(native.components[:, :20]), np.abs(ml.components[:, :20]), atol=1e-7)


def test_fit_over_two_batches_gives_one_version_and_refuses_small_stores(spark, store, tmp_path) -> None:
    models = str(tmp_path / "pca-models")
    with pytest.raises(PcaError, match=r"58 distinct images .* at least 1000"):
        fit_over_store(spark, store, models, k=4)
    assert complete_versions(models) == []
    fitted = fit_over_store(spark, store, models, k=4, min_images=50)
    assert complete_versions(models) == [fitted.basis.version]
    fitted_on = fitted.version.info["fitted_on"]
    assert fitted_on["images"] == 58  # 60 rows, two re-delivered images
    assert fitted_on["batches"] == ["batch-a", "batch-b"]
    assert fitted.version.model_version == fitted.basis.model_version == MODEL  # metadata, not a name
    assert promoted_version(models) is None  # fitting never promotes
    capped = fit_over_store(spark, store, models, k=4, min_images=20, sample_cap=20)
    assert capped.version.info["fitted_on"]["images"] == 20
    with pytest.raises(PcaError, match="at least 80 are needed"):
        fit_over_store(
            spark, store, models, k=20, min_images=50
        )  # 58 images < 4 x 20, refused before the fit
    with pytest.raises(PcaError, match=r"58 images cannot support k=\d+ components"):
        fit_over_store(spark, store, models, variance=0.99999, min_images=50)  # the k the variance needs
    assert len(complete_versions(models)) == 2  # a refused fit saves nothing
    # What a later batch loads: the saved arrays, without Spark, equal to the fit's.
    loaded = registry.load_basis(fitted.uri)
    np.testing.assert_array_equal(loaded.components, fitted.basis.components)
    assert loaded.model_version == MODEL and loaded.k == 4


def test_backfill_puts_every_row_of_every_batch_on_the_promoted_basis(spark, store, tmp_path) -> None:
    models = str(tmp_path / "pca-models")
    with pytest.raises(PcaError, match="no promoted PCA basis"):
        backfill(spark, store, models)
    fitted = fit_over_store(spark, store, models, k=5, min_images=50)
    promote(models, fitted.basis.version)
    before = _rows(spark, store)

    report = backfill(spark, store, models)

    after = _rows(spark, store)
    assert report.rewritten == {"batch-a": 30, "batch-b": 30} and report.skipped == []
    assert after.groupby("batch_id").size().to_dict() == before.groupby("batch_id").size().to_dict()
    assert set(after["pca_version"]) == {fitted.basis.version}
    assert {len(p) for p in after["pca"]} == {5}
    # Nothing else changed, and pca = x . components (pyspark.ml PCAModel semantics), as a batch projects.
    merged = before.merge(after, on=["batch_id", "image_id"], suffixes=("_before", ""))
    assert len(merged) == len(before)
    for column in ("path", "label", "model_version", "processed_at"):
        assert (merged[f"{column}_before"] == merged[column]).all()
    expected = np.stack(merged["features"].to_numpy()) @ fitted.basis.components
    np.testing.assert_allclose(np.stack(merged["pca"].to_numpy()), expected, rtol=1e-4, atol=1e-3)
    as_a_batch = apply_heads(list(merged["features"]), Heads(basis=fitted.basis))["pca"]
    np.testing.assert_array_equal(np.stack(merged["pca"].to_numpy()), np.stack(as_a_batch))

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
    [version] = complete_versions(models)
    assert pca_main(["promote", "--pca-model-dir", models]) == 0
    assert promoted_version(models) == version
    assert pca_main(["backfill", "--store", store, "--pca-model-dir", models]) == 0
    assert set(_rows(spark, store)["pca_version"]) == {version}


def test_a_batch_write_keeps_other_batches_whatever_the_session_setting(spark, store) -> None:
    """Dynamic overwrite is set on the writer: a session configured 'static' still replaces one batch."""
    from spark_app.store.partitions import replace_partition

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
