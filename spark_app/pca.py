"""PCA with pyspark.ml: fit (k fixed or by explained-variance target), save, load, transform.

One fit per run gives the whole explained-variance spectrum; the model keeps the chosen k
components (the first k principal components of a full fit are exactly those of a
k-component fit). Two solvers build the same ``pyspark.ml.feature.PCAModel``:

- ``native`` (default): one distributed pass sums ``X^T X`` per partition with NumPy, the
  driver eigen-decomposes the 1280x1280 covariance with LAPACK (well under a second);
- ``spark``: ``pyspark.ml.feature.PCA.fit`` itself, whose dense SVD runs in Spark's
  pure-Java LAPACK fallback when no native library is installed (seconds to tens of seconds).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from spark_app import hadoop_fs, storage
from spark_app.model_arrays import load_arrays, save_arrays
from spark_app.pca_math import GramSums, gram_sums, principal_components

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
    #: (1280, k) when loaded without Spark (``load_basis``); else read from ``model``.
    loaded_components: np.ndarray | None = None

    @property
    def components(self) -> np.ndarray:
        """The basis as a (1280, k) float64 array (``PCAModel.pc``)."""
        if self.loaded_components is not None:
            return self.loaded_components
        return np.asarray(self.model.pc.toArray())


def weights_tag(model_version: str) -> str:
    """The CNN part of a ``model_version`` (``…@6714965a05ee`` -> ``6714965a05ee``, ``…-int8`` kept)."""
    return model_version.rsplit("@", 1)[-1]


def pca_version(k: int, model_version: str, fitted_at: datetime) -> str:
    """e.g. ``pca-k42-20261123T101500Z-6714965a05ee-3f9a1c`` (fit time, CNN weights, a unique tag).

    The random tag keeps two fits of the same second (concurrent batches, two refits) apart.
    """
    return (
        f"pca-k{k}-{fitted_at.strftime('%Y%m%dT%H%M%SZ')}-{weights_tag(model_version)}-{secrets.token_hex(3)}"
    )


def weights_tag_of(version: str) -> str:
    """The CNN weights tag a basis was fitted for (``pca_version``'s fourth field, e.g. ``6714965a05ee``
    or ``6714965a05ee-int8``)."""
    parts = version.split("-", 3)
    return parts[3].rsplit("-", 1)[0] if len(parts) == 4 else ""


def fitted_for(version: str, model_version: str) -> bool:
    """True when the basis ``version`` was fitted on features of ``model_version``'s CNN."""
    return weights_tag_of(version) == weights_tag(model_version)


NATIVE = "native"
SPARK = "spark"
SOLVERS = (NATIVE, SPARK)


def fit_pca(
    vectors_df,
    input_col: str,
    output_col: str,
    *,
    k: int | None,
    variance: float | None,
    model_version: str,
    solver: str = NATIVE,
    array_col: str | None = None,
) -> PcaResult:
    """Fit on ``input_col`` (``VectorUDT``) of a cached DataFrame.

    ``array_col``: the same values as an array column, if the frame has one (saves a conversion).
    """
    if (k is None) == (variance is None):
        raise PcaError("give exactly one of k or variance")
    if solver not in SOLVERS:
        raise PcaError(f"unknown PCA solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    dim = len(vectors_df.select(input_col).first()[0])
    if k is not None and not 1 <= k <= dim:
        raise PcaError(f"k must be between 1 and the feature dimension {dim}, got {k}")
    started = time.perf_counter()
    if solver == SPARK:
        from pyspark.ml.feature import PCA

        full = PCA(k=dim, inputCol=input_col, outputCol=output_col).fit(vectors_df)
        components, spectrum = full.pc.toArray(), full.explainedVariance.toArray()
    else:
        components, spectrum = principal_components(_distributed_gram(vectors_df, input_col, array_col))
    chosen = k if k is not None else choose_k(spectrum, variance)
    model = make_model(components[:, :chosen], spectrum[:chosen], input_col, output_col)
    return PcaResult(
        model=model,
        version=pca_version(chosen, model_version, datetime.now(UTC)),
        k=chosen,
        explained_variance=[float(v) for v in spectrum[:chosen]],
        spectrum=[float(v) for v in spectrum],
        fit_seconds=time.perf_counter() - started,
        fitted=True,
    )


def _distributed_gram(frame, input_col: str, array_col: str | None) -> GramSums:
    """One pass: ``X^T X`` and column sums per partition (NumPy in the Python workers), summed."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    column = F.col(array_col) if array_col else vector_to_array(input_col)
    rows = frame.select(column.alias("x"))
    partitions = max(1, min(rows.rdd.getNumPartitions(), rows.sparkSession.sparkContext.defaultParallelism))

    def partial(frames):
        import pandas as pd

        total = None
        for batch in frames:
            if len(batch):
                part = gram_sums(np.stack(batch["x"].to_numpy()))
                total = part if total is None else total + part
        if total is not None:
            yield pd.DataFrame({"n": [total.count], "s": [total.sums.tobytes()], "g": [total.gram.tobytes()]})

    partials = rows.coalesce(partitions).mapInPandas(partial, "n long, s binary, g binary")
    total = partials.rdd.map(
        lambda r: GramSums(r.n, np.frombuffer(r.s), np.frombuffer(r.g).reshape(len(r.s) // 8, -1))
    ).treeReduce(lambda a, b: a + b)
    return total


def make_model(components: np.ndarray, variance: np.ndarray, input_col: str, output_col: str):
    """A ``pyspark.ml.feature.PCAModel`` from components (d, k) and their variance ratios (k,)."""
    from pyspark import SparkContext
    from pyspark.ml.common import _py2java
    from pyspark.ml.feature import PCAModel
    from pyspark.ml.linalg import DenseMatrix, DenseVector

    sc = SparkContext._active_spark_context
    d, k = components.shape
    j_pc = _py2java(sc, DenseMatrix(d, k, np.asarray(components).flatten(order="F").tolist()))
    j_variance = _py2java(sc, DenseVector(np.asarray(variance).tolist()))
    model = PCAModel(sc._jvm.org.apache.spark.ml.feature.PCAModel(PCAModel._randomUID(), j_pc, j_variance))
    model._set(k=k, inputCol=input_col, outputCol=output_col)
    model._transfer_params_to_java()
    return model


def save_pca(result: PcaResult, model_dir: str, *, fitted_on: dict | None = None) -> str:
    """Save under ``<model_dir>/<version>/`` (model, then explained variance: the file that marks the
    version complete); returns that URI. ``fitted_on`` records what the basis was fitted on."""
    from pyspark.sql import SparkSession

    target = storage.join_uri(model_dir, result.version)
    spark = SparkSession.getActiveSession()
    hadoop_fs.write_via(
        spark, storage.join_uri(target, MODEL_SUBDIR), lambda uri: result.model.write().overwrite().save(uri)
    )
    save_arrays(target, components=result.components)
    storage.write_text(storage.join_uri(target, VARIANCE_FILE), variance_json(result, fitted_on))
    return target


def variance_json(result: PcaResult, fitted_on: dict | None = None) -> str:
    """Explained variance document written beside the model and in the run summary."""
    document = {
        "pca_version": result.version,
        "k": result.k,
        "explained_variance_ratio": result.explained_variance,
        "cumulative_explained_variance": float(np.sum(result.explained_variance)),
        "spectrum": result.spectrum,
        "fit_seconds": round(result.fit_seconds, 3),
    }
    if fitted_on is not None:
        document["fitted_on"] = fitted_on
    return json.dumps(document, indent=2)


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


def load_basis(version_uri: str) -> PcaResult:
    """A saved version's basis for the extraction pass: its arrays without Spark (one read), or the
    Spark model for a version saved before the arrays were."""
    started = time.perf_counter()
    try:
        arrays = load_arrays(version_uri)
        info = json.loads(storage.read_text(storage.join_uri(version_uri, VARIANCE_FILE)))
    except (storage.StorageError, ValueError, OSError) as exc:
        raise PcaError(f"cannot load PCA model {version_uri}: {str(exc).splitlines()[0]}") from None
    if arrays is None or "components" not in arrays:
        return load_pca(version_uri, "features_vector", "pca_vector")
    return _loaded(info, None, started, arrays["components"])


def _loaded(info: dict, model: object, started: float, components: np.ndarray | None = None) -> PcaResult:
    """A saved version as a PcaResult (``info``: its explained-variance document)."""
    return PcaResult(
        model=model,
        version=info["pca_version"],
        k=int(info["k"]),
        explained_variance=[float(v) for v in info["explained_variance_ratio"]],
        spectrum=[],
        fit_seconds=time.perf_counter() - started,
        fitted=False,
        loaded_components=components,
    )


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
    return _loaded(info, model, started)
