"""One PCA basis for the whole feature store: fit it over every batch, back-fill batches onto it.

``fit`` reads every batch of ``<store>/features`` (one row per image id, the newest CNN model's rows
only), refuses fewer images than the minimum (default 1,000, and at least 4 per component), and saves
a new version with what it was fitted on; it never promotes (see :mod:`spark_app.registry`).
``backfill`` rewrites the ``pca`` and ``pca_version`` columns of every batch that is not on the
promoted version, batch by batch: idempotent (a batch already on it is skipped) and resumable (a
stopped back-fill leaves whole batches, old or new, and the next run does the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spark_app import hadoop_fs, storage
from spark_app.partitions import PARTITION_COLUMN, replace_partition
from spark_app.pca import NATIVE, PcaError, PcaResult, fit_pca, load_pca, save_pca
from spark_app.registry import promoted_version

DEFAULT_MIN_IMAGES = 1000
#: A basis of k components needs at least this many images per component.
MIN_IMAGES_PER_COMPONENT = 4
FEATURES_DIR = "features"
VECTOR_IN, VECTOR_OUT = "features_vector", "pca_vector"


def enough_images(images: int, k: int, min_images: int) -> bool:
    """The size rule for fitting a basis of ``k`` components."""
    return images >= max(min_images, MIN_IMAGES_PER_COMPONENT * k)


@dataclass
class StoreFit:
    """A basis fitted over the store, saved (not promoted)."""

    result: PcaResult
    uri: str
    fitted_on: dict[str, Any]


def fit_over_store(
    spark: Any,
    store: str,
    model_dir: str,
    *,
    k: int | None = None,
    variance: float | None = None,
    min_images: int = DEFAULT_MIN_IMAGES,
    sample_cap: int | None = None,
    solver: str = NATIVE,
) -> StoreFit:
    """Fit on every image of the store (deduplicated by image id; optionally a deterministic sample)."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    if k is None and variance is None:
        variance = 0.95
    with hadoop_fs.readable(spark, storage.join_uri(store, FEATURES_DIR)) as features_dir:
        rows = _read_features(spark, features_dir)
        if rows is None:
            raise PcaError(f"no features in {store}: nothing to fit on")
        model_version = _newest_model_version(rows)
        rows = rows.filter(F.col("model_version") == model_version).dropDuplicates(["image_id"])
        if sample_cap is not None:
            rows = rows.orderBy(F.xxhash64("image_id")).limit(sample_cap)
        rows = rows.select("image_id", PARTITION_COLUMN, "features").cache()
        images = rows.count()
        if images < max(min_images, MIN_IMAGES_PER_COMPONENT * (k or 1)):
            rows.unpersist()
            raise PcaError(
                f"the store has {images} distinct images for {model_version}: at least "
                f"{max(min_images, MIN_IMAGES_PER_COMPONENT * (k or 1))} are needed to fit a basis"
            )
        batches = sorted(r[0] for r in rows.select(PARTITION_COLUMN).distinct().collect())
        vectors = rows.withColumn(VECTOR_IN, array_to_vector("features"))
        result = fit_pca(
            vectors,
            VECTOR_IN,
            VECTOR_OUT,
            k=k,
            variance=variance,
            model_version=model_version,
            solver=solver,
            array_col="features",
        )
        rows.unpersist()
    if not enough_images(images, result.k, min_images):
        raise PcaError(
            f"{images} images cannot support k={result.k} components (at least "
            f"{MIN_IMAGES_PER_COMPONENT} per component): lower --pca-variance or give --pca-k"
        )
    fitted_on = {
        "images": images,
        "batches": batches,
        "batch_count": len(batches),
        "model_version": model_version,
        "store": store,
        "sample_cap": sample_cap,
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    uri = save_pca(result, model_dir, fitted_on=fitted_on)
    return StoreFit(result, uri, fitted_on)


@dataclass
class BackfillReport:
    """What a back-fill did, batch by batch (row counts are read back after each rewrite)."""

    version: str
    k: int
    rewritten: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def backfill(spark: Any, store: str, model_dir: str) -> BackfillReport:
    """Rewrite every batch not on the promoted version, one partition at a time."""
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    version = promoted_version(model_dir)
    if version is None:
        raise PcaError(f"no promoted PCA basis in {model_dir}: run `pca fit` and `pca promote` first")
    pca = load_pca(storage.join_uri(model_dir, version), VECTOR_IN, VECTOR_OUT)
    report = BackfillReport(version=version, k=pca.k)
    base = storage.join_uri(store, FEATURES_DIR)
    with hadoop_fs.readable(spark, base) as features_dir:
        rows = _read_features(spark, features_dir)
        if rows is None:
            return report
        state = rows.groupBy(PARTITION_COLUMN).agg(
            F.count(F.lit(1)).alias("rows"),
            F.collect_set(F.coalesce("pca_version", F.lit(""))).alias("versions"),
        )
        columns = [c for c in rows.columns if c != PARTITION_COLUMN]
        for batch in sorted(state.collect(), key=lambda r: r[PARTITION_COLUMN]):
            batch_id = batch[PARTITION_COLUMN]
            if set(batch["versions"]) == {version}:
                report.skipped.append(batch_id)
                continue
            part = rows.filter(F.col(PARTITION_COLUMN) == batch_id)
            projected = (
                pca.model.transform(part.withColumn(VECTOR_IN, array_to_vector("features")))
                .withColumn("pca", vector_to_array(VECTOR_OUT, "float32"))
                .withColumn("pca_version", F.lit(version))
                .select(*columns, PARTITION_COLUMN)
                # Materialised: the partition is replaced below while this is its only copy.
                .localCheckpoint(eager=True)
            )
            replace_partition(spark, projected, base, batch_id)
            report.rewritten[batch_id] = batch["rows"]
    return report


def _read_features(spark: Any, features_dir: str) -> Any | None:
    """The features dataset (all batches), or None when there is none yet."""
    try:
        return spark.read.parquet(features_dir)
    except Exception as exc:  # AnalysisException: path does not exist / unable to infer schema
        if (
            "PATH_NOT_FOUND" in str(exc)
            or "UNABLE_TO_INFER_SCHEMA" in str(exc)
            or "does not exist" in str(exc)
        ):
            return None
        raise


def _newest_model_version(rows: Any) -> str:
    """The CNN model version of the most recently processed rows (features of one model only)."""
    from pyspark.sql import functions as F

    newest = (
        rows.groupBy("model_version").agg(F.max("processed_at").alias("at")).orderBy(F.desc("at")).first()
    )
    if newest is None:
        raise PcaError("the feature store is empty: nothing to fit on")
    return newest["model_version"]
