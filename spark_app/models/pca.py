"""One PCA basis for the whole feature store: fit it over every batch, back-fill every batch onto it.

``fit`` reads every batch of ``<store>/features`` (one row per image id, the newest CNN model's rows
only), refuses fewer images than the minimum (default 1,000, and at least 4 per component), fits (the
sample covariance's eigenvectors, as pyspark.ml's ``PCA`` defines them), keeps the smallest k reaching the
variance target, and saves a version in the registry; it never promotes.
``backfill`` rewrites the ``pca`` and ``pca_version`` columns of every batch that is not on the
promoted basis, batch by batch, with the same NumPy projection as the batch job (``core/heads.py``):
idempotent (a batch already on it is skipped) and resumable (a stopped back-fill leaves whole
batches, old or new, and the next run does the rest).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd  # at module level: the pandas UDF's type hints are resolved here

from spark_app.core.defaults import FEATURES_DIR, MIN_IMAGES_PER_COMPONENT, PCA_MIN_IMAGES, PCA_VARIANCE
from spark_app.core.erasure import ALL_PARTITIONS, APP_UPLOADS_PREFIX
from spark_app.core.heads import Basis, Heads, apply_heads
from spark_app.core.pca_math import GramSums, gram_sums, principal_components
from spark_app.core.schema import PARTITION_COLUMN
from spark_app.core.uris import join_uri
from spark_app.models import registry
from spark_app.store import spark_fs
from spark_app.store.partitions import read_dataset, replace_partition
from spark_app.store.tombstones import lease, tombstoned_digests

#: Solvers: one distributed X^T X pass and LAPACK's eigh (native, the default), or pyspark.ml's ``PCA.fit``.
NATIVE, SPARK = "native", "spark"
SOLVERS = (NATIVE, SPARK)


class PcaError(registry.RegistryError):
    """A basis that cannot be fitted or applied (the message says why)."""


def choose_k(explained_variance_ratio: np.ndarray, target: float) -> int:
    """Smallest k whose cumulative explained-variance ratio reaches ``target`` (0 < target <= 1)."""
    if not 0.0 < target <= 1.0:
        raise PcaError(f"variance target must be in (0, 1], got {target}")
    ratios = np.asarray(explained_variance_ratio, dtype=np.float64)
    if ratios.size == 0:
        raise PcaError("empty explained-variance spectrum")
    reached = np.nonzero(np.cumsum(ratios) >= target - 1e-12)[0]
    return int(reached[0] + 1) if reached.size else int(ratios.size)


def enough_images(images: int, k: int, min_images: int) -> bool:
    """The size rule for fitting a basis of ``k`` components."""
    return images >= max(min_images, MIN_IMAGES_PER_COMPONENT * k)


@dataclass(frozen=True)
class Spectrum:
    """A full fit: every component (columns, by decreasing variance) and its explained-variance ratio."""

    components: np.ndarray  # (d, d)
    ratios: np.ndarray  # (d,)


def fit_spectrum(rows: Any, *, solver: str = NATIVE) -> Spectrum:
    """Fit on the ``features`` column (array<float>) of a cached DataFrame.

    ``native``: one distributed ``X^T X`` pass and LAPACK's ``eigh`` on the driver. ``spark``: pyspark.ml's
    ``PCA.fit``, checked against the native sums; on this project's Spark 3.5.6 it sometimes returns a
    wrong spectrum for real features (docs/analysis.md), and such a fit is refused, never saved.
    """
    if solver not in SOLVERS:
        raise PcaError(f"unknown PCA solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    native = Spectrum(*principal_components(_distributed_gram(rows)))
    if solver == NATIVE:
        return native
    from pyspark.ml.feature import PCA
    from pyspark.ml.functions import array_to_vector

    vectors = rows.select(array_to_vector("features").alias("x"))
    model = PCA(k=len(native.ratios), inputCol="x", outputCol="y").fit(vectors)
    fitted = Spectrum(model.pc.toArray(), model.explainedVariance.toArray())
    check_agreement(fitted, native)
    return fitted


def check_agreement(fitted: Spectrum, reference: Spectrum, *, components: int = 10) -> None:
    """Refuse a fit whose leading variance ratios or components differ from the reference's."""
    n = min(components, len(reference.ratios))
    ratios_ok = np.allclose(fitted.ratios[:n], reference.ratios[:n], rtol=1e-4, atol=1e-9)
    alignment = np.abs(np.sum(fitted.components[:, :n] * reference.components[:, :n], axis=0))
    if not ratios_ok or alignment.min() < 0.999:
        raise PcaError(
            "pyspark.ml's PCA returned a basis that disagrees with the covariance of the same rows "
            f"(leading ratios {np.round(fitted.ratios[:3], 4).tolist()} "
            f"vs {np.round(reference.ratios[:3], 4).tolist()}): "
            "refused; fit again or use --pca-solver native"
        )


def _distributed_gram(rows: Any) -> GramSums:
    """One pass: ``X^T X`` and column sums per partition (NumPy in the Python workers), summed."""

    def partial(frames):
        total = None
        for batch in frames:
            if len(batch):
                part = gram_sums(np.stack(batch["features"].to_numpy()))
                total = part if total is None else total + part
        if total is not None:
            yield pd.DataFrame({"n": [total.count], "s": [total.sums.tobytes()], "g": [total.gram.tobytes()]})

    parallelism = rows.sparkSession.sparkContext.defaultParallelism
    features = rows.select("features")
    partials = features.coalesce(max(1, min(features.rdd.getNumPartitions(), parallelism)))
    sums = partials.mapInPandas(partial, "n long, s binary, g binary").collect()
    if not sums:
        raise PcaError("no features to fit on")
    parts = [GramSums(r.n, np.frombuffer(r.s), np.frombuffer(r.g).reshape(len(r.s) // 8, -1)) for r in sums]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


@dataclass
class StoreFit:
    """A basis fitted over the store and saved (not promoted)."""

    basis: Basis
    uri: str
    version: registry.Version
    spectrum: Spectrum
    #: Labels and first two coordinates of a sample of the images (``keep_sample``).
    sample_labels: list[str | None] = field(default_factory=list)
    sample_xy: np.ndarray | None = None


def fit_over_store(
    spark: Any,
    store: str,
    model_dir: str,
    *,
    k: int | None = None,
    variance: float | None = None,
    min_images: int = PCA_MIN_IMAGES,
    sample_cap: int | None = None,
    solver: str = NATIVE,
    keep_sample: int = 0,
) -> StoreFit:
    """Fit on every image of the store (deduplicated by image id; optionally a deterministic sample), then
    save the basis as a new version (not promoted).

    ``keep_sample``: also return the labels and projections of up to this many images (for the report).
    """
    if k is not None and variance is not None:
        raise PcaError("give k or a variance target, not both")
    started = time.perf_counter()
    with spark_fs.readable(spark, join_uri(store, FEATURES_DIR)) as features_dir:
        rows, model_version = _fit_rows(spark, features_dir, store, sample_cap)
        try:
            fitted_on = _check_size(rows, model_version, k, min_images)
            spectrum = fit_spectrum(rows, solver=solver)
            sample = rows.select("label", "features").limit(keep_sample).toPandas() if keep_sample else None
        finally:
            rows.unpersist()
    chosen = k if k is not None else choose_k(spectrum.ratios, variance or PCA_VARIANCE)
    if not enough_images(fitted_on["images"], chosen, min_images):
        raise PcaError(
            f"{fitted_on['images']} images cannot support k={chosen} components (at least "
            f"{MIN_IMAGES_PER_COMPONENT} per component): lower --pca-variance or give a smaller --pca-k"
        )
    fitted_on.update(store=store, sample_cap=sample_cap)
    fit = _save(model_dir, spectrum, chosen, model_version, solver, time.perf_counter() - started, fitted_on)
    if sample is not None and len(sample):
        fit.sample_labels = list(sample["label"])
        fit.sample_xy = np.stack(sample["features"].to_numpy()) @ spectrum.components[:, :2]
    return fit


def _fit_rows(spark: Any, features_dir: str, store: str, sample_cap: int | None) -> tuple[Any, str]:
    """The cached rows to fit on (newest CNN only, one per image id, optionally a sample) and that CNN."""
    from pyspark.sql import functions as F

    rows = read_dataset(spark, features_dir)
    if rows is None:
        raise PcaError(f"no features in {store}: nothing to fit on")
    model_version = newest_model_version(rows)
    rows = rows.filter(F.col("model_version") == model_version).dropDuplicates(["image_id"])
    if sample_cap is not None:
        rows = rows.orderBy(F.xxhash64("image_id")).limit(sample_cap)
    return rows.select("image_id", PARTITION_COLUMN, "label", "features").cache(), model_version


def _check_size(rows: Any, model_version: str, k: int | None, min_images: int) -> dict[str, Any]:
    """Refuse too few images for the minimum (or for ``k``); returns what the fit is on."""
    images = rows.count()
    needed = max(min_images, MIN_IMAGES_PER_COMPONENT * (k or 1))
    if images < needed:
        raise PcaError(
            f"the store has {images} distinct images for {model_version}: at least {needed} are "
            "needed to fit a basis (lower --min-images only for a first, small corpus)"
        )
    dim = len(rows.select("features").first()[0])
    if k is not None and not 1 <= k <= dim:
        raise PcaError(f"k must be between 1 and the feature dimension {dim}, got {k}")
    batches = sorted(r[0] for r in rows.select(PARTITION_COLUMN).distinct().collect())
    return {"images": images, "batches": batches, "batch_count": len(batches)}


def _save(
    model_dir: str,
    spectrum: Spectrum,
    k: int,
    model_version: str,
    solver: str,
    seconds: float,
    fitted_on: dict[str, Any],
) -> StoreFit:
    """Save the first ``k`` components as a new registry version."""
    ratios = [float(v) for v in spectrum.ratios[:k]]
    version = registry.Version(
        name=registry.new_version_name(registry.PCA_KIND, f"k{k}", datetime.now(UTC)),
        kind=registry.PCA_KIND,
        fitted_at=registry.now_iso(),
        model_version=model_version,
        info={
            "k": k,
            "explained_variance_ratio": ratios,
            "cumulative_explained_variance": float(np.sum(ratios)),
            "spectrum": [float(v) for v in spectrum.ratios],
            "solver": solver,
            "fit_seconds": round(seconds, 3),
            "fitted_on": fitted_on,
        },
    )
    components = np.ascontiguousarray(spectrum.components[:, :k])
    uri = registry.save_version(model_dir, version, {"components": components})
    return StoreFit(Basis(version.name, components, model_version, tuple(ratios)), uri, version, spectrum)


@dataclass
class BackfillReport:
    """What a back-fill did, batch by batch."""

    version: str
    k: int
    rewritten: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    #: Batches of another CNN's features than the basis's, left as they are.
    other_model: list[str] = field(default_factory=list)


def backfill(spark: Any, store: str, model_dir: str) -> BackfillReport:
    """Rewrite every batch not on the promoted basis, one partition at a time, under a lease on every
    partition; the rows of identities being erased are left out (``core/erasure.py``)."""
    with lease(store, ALL_PARTITIONS):
        return _backfill(spark, store, model_dir, tombstoned_digests(store))


def _backfill(spark: Any, store: str, model_dir: str, erased: set[str]) -> BackfillReport:
    from pyspark.sql import functions as F

    uri = registry.resolve("latest", model_dir)
    if uri is None:
        raise PcaError(f"no promoted PCA basis in {model_dir}: run `pca fit` and `pca promote` first")
    basis = registry.load_basis(uri)
    report = BackfillReport(version=basis.version, k=basis.k)
    base = join_uri(store, FEATURES_DIR)
    with spark_fs.readable(spark, base) as features_dir:
        rows = read_dataset(spark, features_dir)
        if rows is None:
            return report
        state = rows.groupBy(PARTITION_COLUMN).agg(
            F.count(F.lit(1)).alias("rows"),
            F.collect_set(F.coalesce("pca_version", F.lit(""))).alias("versions"),
            F.collect_set("model_version").alias("models"),
        )
        columns = [c for c in rows.columns if c != PARTITION_COLUMN]
        project = projection_udf(basis)
        for batch in sorted(state.collect(), key=lambda r: r[PARTITION_COLUMN]):
            batch_id = batch[PARTITION_COLUMN]
            if set(batch["versions"]) == {basis.version}:
                report.skipped.append(batch_id)
                continue
            if set(batch["models"]) != {basis.model_version}:
                report.other_model.append(batch_id)  # features of another CNN: not on this basis
                continue
            projected = (
                rows.filter(F.col(PARTITION_COLUMN) == batch_id)
                .filter(~erased_identity(F.col("path"), erased))
                .withColumn("pca", project("features"))
                .withColumn("pca_version", F.lit(basis.version))
                .select(*columns, PARTITION_COLUMN)
                # Materialised: the partition is replaced below while this is its only copy.
                .localCheckpoint(eager=True)
            )
            replace_partition(spark, projected, base, batch_id)
            report.rewritten[batch_id] = batch["rows"]
    return report


def erased_identity(path: Any, digests: set[str]) -> Any:
    """A Spark condition: ``path`` is an upload of an identity whose digest is in ``digests``."""
    from pyspark.sql import functions as F

    if not digests:
        return F.lit(False)
    segment = F.regexp_extract(path, f"/{APP_UPLOADS_PREFIX.strip('/')}/([^/]+)/", 1)
    return F.coalesce(F.sha2(segment, 256).isin(sorted(digests)), F.lit(False))


def projection_udf(basis: Basis) -> Any:
    """A pandas UDF projecting a ``features`` column on ``basis`` (the batch job's own projection)."""
    from pyspark.sql import functions as F

    heads = Heads(basis=basis)

    @F.pandas_udf("array<float>")
    def project(features: pd.Series) -> pd.Series:
        return pd.Series(apply_heads(list(features), heads)["pca"])

    return project


def newest_model_version(rows: Any) -> str:
    """The CNN model version of the most recently processed rows (features of one model only)."""
    from pyspark.sql import functions as F

    newest = (
        rows.groupBy("model_version").agg(F.max("processed_at").alias("at")).orderBy(F.desc("at")).first()
    )
    if newest is None:
        raise PcaError("the feature store is empty: nothing to fit on")
    return newest["model_version"]
