"""PCA: k choice, agreement with NumPy, truncation, save/load/transform without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spark_app.model_arrays import ARRAYS_FILE
from spark_app.pca import (
    LATEST,
    SOLVERS,
    PcaError,
    choose_k,
    fit_pca,
    load_basis,
    load_pca,
    resolve_model_uri,
    save_pca,
)
from spark_app.pca_math import gram_sums, principal_components
from spark_app.registry import promote

DIM = 1280


def test_choose_k_smallest_reaching_target() -> None:
    ratios = np.array([0.5, 0.3, 0.1, 0.05, 0.05])
    assert choose_k(ratios, 0.5) == 1
    assert choose_k(ratios, 0.8) == 2
    assert choose_k(ratios, 0.81) == 3
    assert choose_k(ratios, 1.0) == 5
    with pytest.raises(PcaError):
        choose_k(ratios, 0.0)


def _features(n: int = 240, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.geomspace(10.0, 0.01, 40)
    latent = rng.normal(size=(n, 40)) * scales
    basis = np.linalg.qr(rng.normal(size=(DIM, 40)))[0]
    return (latent @ basis.T + rng.normal(scale=0.005, size=(n, DIM)) + 3.0).astype(np.float64)


def _frame(spark, x: np.ndarray):
    from pyspark.ml.linalg import Vectors

    return spark.createDataFrame([(Vectors.dense(row),) for row in x], ["v"]).cache()


def test_principal_components_from_partial_sums_match_numpy() -> None:
    x = _features(n=300)
    total = gram_sums(x[:100]) + gram_sums(x[100:250]) + gram_sums(x[250:])
    components, ratios = principal_components(total)
    centered = x - x.mean(axis=0)
    eigvals = np.linalg.eigvalsh(np.cov(centered, rowvar=False))[::-1]
    np.testing.assert_allclose(ratios[:40], eigvals[:40] / eigvals.sum(), rtol=1e-6)
    np.testing.assert_allclose(components.T @ components, np.eye(DIM), atol=1e-9)
    assert np.all(np.abs(components).argmax(axis=0) == components.argmax(axis=0))  # sign convention
    with pytest.raises(ValueError, match="at least 2 rows"):
        principal_components(gram_sums(x[:1]))


@pytest.mark.spark
@pytest.mark.parametrize("solver", SOLVERS)
def test_spark_pca_matches_numpy(spark, solver: str) -> None:
    x = _features()
    result = fit_pca(_frame(spark, x), "v", "p", k=10, variance=None, model_version="m@abc", solver=solver)
    centered = x - x.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(centered.T @ centered / (len(x) - 1))
    order = np.argsort(eigvals)[::-1]
    eigvals, eigvecs = eigvals[order], eigvecs[:, order]
    expected = eigvals / eigvals.sum()
    np.testing.assert_allclose(result.explained_variance, expected[:10], rtol=1e-6)
    np.testing.assert_allclose(result.spectrum[:40], expected[:40], rtol=1e-6, atol=1e-12)
    pc = result.model.pc.toArray()
    assert pc.shape == (DIM, 10)
    np.testing.assert_allclose(pc.T @ pc, np.eye(10), atol=1e-9)
    alignment = np.abs(np.sum(pc * eigvecs[:, :10], axis=0))
    np.testing.assert_allclose(alignment, 1.0, atol=1e-6)


@pytest.mark.spark
def test_native_solver_equals_pyspark_ml_pca_fit(spark) -> None:
    from pyspark.ml.feature import PCA

    frame = _frame(spark, _features())
    result = fit_pca(frame, "v", "p", k=None, variance=0.9, model_version="m@abc")
    assert result.model.getK() == result.k
    cumulative = np.cumsum(result.spectrum)
    assert cumulative[result.k - 1] >= 0.9 > cumulative[result.k - 2]
    direct = PCA(k=result.k, inputCol="v", outputCol="p").fit(frame)
    np.testing.assert_allclose(np.abs(result.model.pc.toArray()), np.abs(direct.pc.toArray()), atol=1e-9)
    ours = np.array([r.p.toArray() for r in result.model.transform(frame).select("p").collect()])
    theirs = np.array([r.p.toArray() for r in direct.transform(frame).select("p").collect()])
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), rtol=1e-7, atol=1e-7)


@pytest.mark.spark
def test_saved_model_transforms_later_batches_without_refitting(spark, tmp_path: Path) -> None:
    x = _features()
    frame = _frame(spark, x[:200])
    fitted = fit_pca(frame, "v", "p", k=8, variance=None, model_version="m@abc")
    assert resolve_model_uri(LATEST, str(tmp_path)) is None
    saved = save_pca(fitted, str(tmp_path))
    assert resolve_model_uri(LATEST, str(tmp_path)) is None  # saving never promotes
    promote(str(tmp_path), fitted.version)
    assert resolve_model_uri(LATEST, str(tmp_path)) == saved
    loaded = load_pca(saved, "v", "p")
    assert (loaded.version, loaded.k, loaded.fitted) == (fitted.version, 8, False)
    later = _frame(spark, x[200:])
    got = np.array([r.p.toArray() for r in loaded.model.transform(later).select("p").collect()])
    np.testing.assert_allclose(got, x[200:] @ fitted.model.pc.toArray(), rtol=1e-9, atol=1e-9)
    with pytest.raises(PcaError, match="cannot load PCA model"):
        load_pca(str(tmp_path / "missing"), "v", "p")
    # What a batch loads: the basis's arrays, without Spark, equal to the model's.
    basis = load_basis(saved)
    assert basis.model is None and (basis.version, basis.k) == (fitted.version, 8)
    np.testing.assert_array_equal(basis.components, fitted.model.pc.toArray())
    (Path(saved) / ARRAYS_FILE).unlink()  # a version saved before the arrays: the Spark model
    assert load_basis(saved).model is not None
    np.testing.assert_array_equal(load_basis(saved).components, basis.components)
    with pytest.raises(PcaError, match="cannot load PCA model"):
        load_basis(str(tmp_path / "missing"))
