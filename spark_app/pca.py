"""PCA with pyspark.ml: fit (k fixed or by explained-variance target), save, load, transform.

One fit per run: the model is fitted with every component, which gives the whole
explained-variance spectrum, then cut to the chosen k (the first k principal components
of a full fit are exactly those of a k-component fit).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from spark_app import hadoop_fs, storage

LATEST = "latest"
LATEST_POINTER = "LATEST"
MODEL_SUBDIR = "model"
VARIANCE_FILE = "explained_variance.json"


class PcaError(ValueError):
    """PCA that cannot be fitted or loaded."""


def choose_k(explained_variance_ratio: np.ndarray, target: float) -> int:
    """Smallest k whose cumulative explained-variance ratio reaches ``target`` (0 < target <= 1)."""
    if not 0.0 < target <= 1.0:
        raise PcaError(f"variance target must be in (0, 1], got {target}")
    ratios = np.asarray(explained_variance_ratio, dtype=np.float64)
    if ratios.size == 0:
        raise PcaError("empty explained-variance spectrum")
    cumulative = np.cumsum(ratios)
    reached = np.nonzero(cumulative >= target - 1e-12)[0]
    return int(reached[0] + 1) if reached.size else int(ratios.size)


@dataclass(frozen=True)
class PcaResult:
    """A fitted or loaded model and what the run reports about it."""

    model: object  # pyspark.ml.feature.PCAModel
    version: str
    k: int
    explained_variance: list[float]  # ratio per kept component
    spectrum: list[float]  # ratio per component of the full fit ([] when loaded)
    fit_seconds: float
    fitted: bool


def pca_version(k: int, model_version: str, fitted_at: datetime) -> str:
    """e.g. ``pca-k42-20261123T101500Z-6714965a05ee`` (sortable, names the CNN weights)."""
    weights_tag = model_version.rsplit("@", 1)[-1]
    return f"pca-k{k}-{fitted_at.strftime('%Y%m%dT%H%M%SZ')}-{weights_tag}"


def fit_pca(
    vectors_df, input_col: str, output_col: str, *, k: int | None, variance: float | None, model_version: str
) -> PcaResult:
    """Fit on a DataFrame of ``VectorUDT`` rows (cache it first: the fit reads it several times)."""
    from pyspark.ml.feature import PCA

    if (k is None) == (variance is None):
        raise PcaError("give exactly one of k or variance")
    dim = len(vectors_df.select(input_col).first()[0])
    if k is not None and not 1 <= k <= dim:
        raise PcaError(f"k must be between 1 and the feature dimension {dim}, got {k}")
    started = time.perf_counter()
    full = PCA(k=dim, inputCol=input_col, outputCol=output_col).fit(vectors_df)
    spectrum = [float(v) for v in full.explainedVariance.toArray()]
    chosen = k if k is not None else choose_k(np.asarray(spectrum), variance)
    model = truncate_model(full, chosen)
    elapsed = time.perf_counter() - started
    return PcaResult(
        model=model,
        version=pca_version(chosen, model_version, datetime.now(UTC)),
        k=chosen,
        explained_variance=spectrum[:chosen],
        spectrum=spectrum,
        fit_seconds=elapsed,
        fitted=True,
    )


def truncate_model(model, k: int):
    """A PCAModel with the first ``k`` components of ``model`` (same uid and columns)."""
    from pyspark import SparkContext
    from pyspark.ml.common import _py2java
    from pyspark.ml.feature import PCAModel
    from pyspark.ml.linalg import DenseMatrix, DenseVector

    if k == model.pc.numCols:
        return model
    sc = SparkContext._active_spark_context
    pc = model.pc.toArray()[:, :k]
    j_pc = _py2java(sc, DenseMatrix(pc.shape[0], k, pc.flatten(order="F").tolist()))
    j_variance = _py2java(sc, DenseVector(model.explainedVariance.toArray()[:k].tolist()))
    truncated = PCAModel(sc._jvm.org.apache.spark.ml.feature.PCAModel(model.uid, j_pc, j_variance))
    truncated._set(k=k, inputCol=model.getInputCol(), outputCol=model.getOutputCol())
    truncated._transfer_params_to_java()
    return truncated


def save_pca(result: PcaResult, model_dir: str, *, make_latest: bool) -> str:
    """Save under ``<model_dir>/<version>/`` (model + explained variance); returns that URI."""
    from pyspark.sql import SparkSession

    target = storage.join_uri(model_dir, result.version)
    spark = SparkSession.getActiveSession()
    hadoop_fs.write_via(
        spark, storage.join_uri(target, MODEL_SUBDIR), lambda uri: result.model.write().overwrite().save(uri)
    )
    storage.write_text(storage.join_uri(target, VARIANCE_FILE), variance_json(result))
    if make_latest:
        storage.write_text(storage.join_uri(model_dir, LATEST_POINTER), result.version + "\n")
    return target


def variance_json(result: PcaResult) -> str:
    """Explained variance document written beside the model and in the run summary."""
    return json.dumps(
        {
            "pca_version": result.version,
            "k": result.k,
            "explained_variance_ratio": result.explained_variance,
            "cumulative_explained_variance": float(np.sum(result.explained_variance)),
            "spectrum": result.spectrum,
        },
        indent=2,
    )


def resolve_model_uri(reference: str, model_dir: str | None) -> str | None:
    """URI of a saved model version; ``latest`` reads ``<model_dir>/LATEST`` (None when absent)."""
    if reference != LATEST:
        return reference
    if not model_dir:
        raise PcaError("--pca-model latest needs --pca-model-dir")
    pointer = storage.join_uri(model_dir, LATEST_POINTER)
    if not storage.exists(pointer):
        return None
    return storage.join_uri(model_dir, storage.read_text(pointer).strip())


def load_pca(version_uri: str, input_col: str, output_col: str) -> PcaResult:
    """Load a saved version (written by :func:`save_pca`) to transform new data without refitting."""
    from pyspark.ml.feature import PCAModel
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    try:
        model = hadoop_fs.read_via(
            SparkSession.getActiveSession(), storage.join_uri(version_uri, MODEL_SUBDIR), PCAModel.load
        )
        info = json.loads(storage.read_text(storage.join_uri(version_uri, VARIANCE_FILE)))
    except Exception as exc:
        raise PcaError(f"cannot load PCA model {version_uri}: {str(exc).splitlines()[0]}") from None
    model.setInputCol(input_col).setOutputCol(output_col)
    return PcaResult(
        model=model,
        version=info["pca_version"],
        k=int(info["k"]),
        explained_variance=[float(v) for v in info["explained_variance_ratio"]],
        spectrum=[],
        fit_seconds=time.perf_counter() - started,
        fitted=False,
    )
