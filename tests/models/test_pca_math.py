"""PCA numerics without Spark: the k rule, the size rule, the NumPy solver against NumPy's own PCA."""

from __future__ import annotations

import numpy as np
import pytest

from spark_app.core.pca_math import gram_sums, principal_components
from spark_app.models.pca import PcaError, choose_k, enough_images

DIM = 1280


def pca_features(n: int = 240, seed: int = 7) -> np.ndarray:
    """Features near a 40-dimensional subspace of the 1280-d space, with a spectrum spanning 3 decades."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(10.0, 0.01, 40)
    latent = rng.normal(size=(n, 40)) * scales
    basis = np.linalg.qr(rng.normal(size=(DIM, 40)))[0]
    return (latent @ basis.T + rng.normal(scale=0.005, size=(n, DIM)) + 3.0).astype(np.float64)


def test_choose_k_smallest_reaching_target() -> None:
    ratios = np.array([0.5, 0.3, 0.1, 0.05, 0.05])
    assert choose_k(ratios, 0.5) == 1
    assert choose_k(ratios, 0.8) == 2
    assert choose_k(ratios, 0.81) == 3
    assert choose_k(ratios, 1.0) == 5
    with pytest.raises(PcaError):
        choose_k(ratios, 0.0)


def test_size_rule() -> None:
    assert enough_images(1000, 9, 1000) and not enough_images(999, 9, 1000)
    assert not enough_images(1000, 300, 1000)  # 4 images per component


def test_principal_components_from_partial_sums_match_numpy() -> None:
    x = pca_features(n=300)
    total = gram_sums(x[:100]) + gram_sums(x[100:250]) + gram_sums(x[250:])
    components, ratios = principal_components(total)
    centered = x - x.mean(axis=0)
    eigvals = np.linalg.eigvalsh(np.cov(centered, rowvar=False))[::-1]
    np.testing.assert_allclose(ratios[:40], eigvals[:40] / eigvals.sum(), rtol=1e-6)
    np.testing.assert_allclose(components.T @ components, np.eye(DIM), atol=1e-9)
    assert np.all(np.abs(components).argmax(axis=0) == components.argmax(axis=0))  # sign convention
    with pytest.raises(ValueError, match="at least 2 rows"):
        principal_components(gram_sums(x[:1]))
