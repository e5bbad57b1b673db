"""Pure PCA numerics: partial Gram sums per partition, then the eigen-decomposition.

The same statistics as pyspark.ml's ``RowMatrix.computePrincipalComponentsAndExplainedVariance``
(sample covariance, components sorted by variance, ratios over the total variance), computed
with NumPy's native BLAS/LAPACK instead of Spark's pure-Java fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GramSums:
    """Row count, column sums and ``X^T X`` of a set of rows (float64)."""

    count: int
    sums: np.ndarray  # (d,)
    gram: np.ndarray  # (d, d)

    def __add__(self, other: GramSums) -> GramSums:
        return GramSums(self.count + other.count, self.sums + other.sums, self.gram + other.gram)


def gram_sums(rows: np.ndarray) -> GramSums:
    """Sums of a (n, d) block of rows."""
    x = np.asarray(rows, dtype=np.float64)
    return GramSums(len(x), x.sum(axis=0), x.T @ x)


def principal_components(total: GramSums) -> tuple[np.ndarray, np.ndarray]:
    """(components (d, d) in columns, explained-variance ratio (d,)), by decreasing variance.

    Each component's sign is fixed so that its largest-magnitude coordinate is positive.
    """
    if total.count < 2:
        raise ValueError("at least 2 rows are needed to fit PCA")
    mean = total.sums / total.count
    covariance = (total.gram - total.count * np.outer(mean, mean)) / (total.count - 1)
    covariance = (covariance + covariance.T) / 2.0
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    variances = np.clip(eigenvalues[order], 0.0, None)
    components = eigenvectors[:, order]
    pivot = np.abs(components).argmax(axis=0)
    components *= np.sign(components[pivot, np.arange(components.shape[1])])
    return components, variances / variances.sum()
