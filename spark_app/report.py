"""Demo report: explained-variance curve and 2-D PCA scatter coloured by label (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_report(spark: Any, summary: Any, pca: Any, report_dir: str) -> list[str]:
    """Write ``explained_variance.png`` and ``pca_scatter.png``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    spectrum = np.asarray(pca.spectrum or pca.explained_variance, dtype=float)
    cumulative = np.cumsum(spectrum)

    fig, ax = plt.subplots(figsize=(7, 4))
    shown = min(len(cumulative), max(pca.k * 3, 50))
    ax.plot(np.arange(1, shown + 1), cumulative[:shown], marker=".", linewidth=1)
    ax.axvline(pca.k, color="tab:red", linestyle="--", label=f"k = {pca.k} ({cumulative[pca.k - 1]:.1%})")
    ax.set(
        xlabel="number of components",
        ylabel="cumulative explained variance",
        title=f"PCA {pca.version}",
        ylim=(0, 1.02),
    )
    ax.grid(alpha=0.3)
    ax.legend()
    variance_png = out / "explained_variance.png"
    fig.tight_layout()
    fig.savefig(variance_png, dpi=110)
    plt.close(fig)

    frame = (
        spark.read.parquet(summary.features_path)  # this batch's partition
        .selectExpr("pca[0] AS pc1", "pca[1] AS pc2", "coalesce(label, '(none)') AS label")
        .toPandas()
    )
    fig, ax = plt.subplots(figsize=(8, 6))
    for label, group in frame.groupby("label"):
        ax.scatter(group["pc1"], group["pc2"], s=18, label=label, alpha=0.8)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=f"{len(frame)} images, first two principal components")
    ax.legend(fontsize=7, loc="best", markerscale=1.2)
    ax.grid(alpha=0.3)
    scatter_png = out / "pca_scatter.png"
    fig.tight_layout()
    fig.savefig(scatter_png, dpi=110)
    plt.close(fig)
    return [str(variance_png), str(scatter_png)]
