"""``pca fit --report DIR``: the explained-variance curve and a 2-D scatter of the store (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VARIANCE_PNG = "explained_variance.png"
SCATTER_PNG = "pca_scatter.png"


def write_report(
    report_dir: str, *, version: str, k: int, spectrum: np.ndarray, labels: list[str], xy: np.ndarray
) -> list[str]:
    """Write the variance curve (``spectrum``: every component's ratio) and the scatter of ``xy`` (n, 2)
    coloured by ``labels``; returns the two paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    cumulative = np.cumsum(np.asarray(spectrum, dtype=float))

    fig, ax = plt.subplots(figsize=(7, 4))
    shown = min(len(cumulative), max(k * 3, 50))
    ax.plot(np.arange(1, shown + 1), cumulative[:shown], marker=".", linewidth=1)
    ax.axvline(k, color="tab:red", linestyle="--", label=f"k = {k} ({cumulative[k - 1]:.1%})")
    ax.set(
        xlabel="number of components",
        ylabel="cumulative explained variance",
        title=f"PCA {version}",
        ylim=(0, 1.02),
    )
    ax.grid(alpha=0.3)
    ax.legend()
    variance_png = out / VARIANCE_PNG
    fig.tight_layout()
    fig.savefig(variance_png, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 6))
    names = np.asarray([label or "(none)" for label in labels])
    for label in sorted(set(names)):
        chosen = names == label
        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=18, label=label, alpha=0.8)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=f"{len(names)} images, first two principal components")
    ax.legend(fontsize=7, loc="best", markerscale=1.2)
    ax.grid(alpha=0.3)
    scatter_png = out / SCATTER_PNG
    fig.tight_layout()
    fig.savefig(scatter_png, dpi=110)
    plt.close(fig)
    return [str(variance_png), str(scatter_png)]
