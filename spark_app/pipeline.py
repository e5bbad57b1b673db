"""The job: discover inputs -> broadcast model -> features (mapInPandas) -> PCA -> Parquet."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from spark_app import schema, storage
from spark_app.answers import write_answers
from spark_app.backends import LITERT, ModelPayload
from spark_app.classifier import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    ClassifierError,
    LoadedClassifier,
    load_classifier_arrays,
    resolve_classifier,
)
from spark_app.classifier_math import UNKNOWN
from spark_app.decode import DEFAULT_MAX_PIXELS
from spark_app.features import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_READ_THREADS,
    EXTRACT_SCHEMA_DDL,
    ExtractSettings,
    make_partition_fn,
)
from spark_app.heads import RAW, Heads
from spark_app.inputs import InputError, InputItem, discover_from_manifest, discover_from_root
from spark_app.manifest import BATCH_ID_PREFIX
from spark_app.model_payload import FP32, prepare_payload
from spark_app.outcomes import (
    ERROR_FIELDS,
    AnswerTarget,
    BatchOutcome,
    OutcomeRecorder,
    OutcomesParam,
    batch_answers,
    check_accounting,
    task_partition_index,
    total,
)
from spark_app.partitions import delete_partition, replace_partition
from spark_app.pca import (
    NATIVE,
    PcaError,
    PcaResult,
    fit_pca,
    fitted_for,
    load_basis,
    resolve_model_uri,
    save_pca,
)
from spark_app.pca_store import DEFAULT_MIN_IMAGES, enough_images
from spark_app.weights import DEFAULT_WEIGHTS, expected_sha256

log = logging.getLogger("fruits")

FEATURES_DIR = "features"
ERRORS_DIR = "errors"
RUNS_DIR = "runs"
PCA_MODELS_DIR = "pca_models"
PARTITION_COLUMN = schema.PARTITION_COLUMN
DEFAULT_PCA_VARIANCE = 0.95
DEFAULT_FILES_PER_PARTITION = 256
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

#: Columns of the features and errors datasets (one definition: spark_app.schema).
FEATURE_COLUMNS = tuple(schema.names(schema.FEATURES))
ERROR_COLUMNS = tuple(schema.names(schema.ERRORS))
_PREDICTION_COLUMNS = tuple(schema.names(schema.PREDICTION))


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs; built by the CLI."""

    output: str
    input: str | None = None
    manifest: str | None = None
    batch_id: str | None = None
    weights: str = DEFAULT_WEIGHTS
    weights_sha256: str | None = None
    backend: str = LITERT
    #: ``fp32`` (default) or ``int8`` (the calibrated LiteRT model; see docs/int8.md).
    precision: str = FP32
    threads_per_worker: int = 1
    pca_k: int | None = None
    pca_variance: float | None = None
    pca_model: str | None = None
    pca_model_dir: str | None = None
    pca_solver: str = NATIVE
    #: Fitting on the run's own images needs this many (and 4 per component): see pca_store.
    pca_min_images: int = DEFAULT_MIN_IMAGES
    #: Fit on the run's own images whatever their number (one-off folder runs, the demo).
    pca_fit_any_size: bool = False
    #: Glue database whose ``features``/``errors`` tables get this batch's partition (s3:// output).
    glue_database: str | None = None
    #: Classifier version URI, or ``latest`` (the promoted one in ``classifier_dir``); None: no prediction.
    classifier: str | None = None
    classifier_dir: str | None = None
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    #: Where one JSON answer per input is written (``<answers>/<upload key>.json``); None: none.
    answers: str | None = None
    master: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    read_threads: int = DEFAULT_READ_THREADS
    files_per_partition: int = DEFAULT_FILES_PER_PARTITION
    report_dir: str | None = None

    def __post_init__(self) -> None:
        if (self.input is None) == (self.manifest is None):
            raise ValueError("give exactly one of input or manifest")
        if self.glue_database and not storage.is_s3_uri(self.output):
            raise ValueError("--glue-database needs an s3:// --output (the catalog describes S3 data)")
        if self.batch_id is not None and not _BATCH_ID_RE.match(self.batch_id):
            raise ValueError(f"invalid batch id {self.batch_id!r}: use 1-80 letters, digits, '.', '_' or '-'")

    @property
    def pca_dir(self) -> str:
        return self.pca_model_dir or storage.join_uri(self.output, PCA_MODELS_DIR)


@dataclass
class RunSummary:
    """What the run did; printed by the CLI and written to ``<output>/runs/<batch_id>.json``."""

    batch_id: str
    inputs: int
    images: int
    errors: int
    seconds: float
    files_per_second: float  # inputs (images and failed files) per second, start to end
    model_version: str
    model_builds: int
    pca_version: str | None
    pca_k: int | None
    pca_fitted: bool
    pca_fit_seconds: float | None
    explained_variance: float | None
    features_path: str
    errors_path: str
    pca_model_path: str | None
    errors_by_stage: dict[str, int] = field(default_factory=dict)
    #: Why the rows have no ``pca`` (no promoted basis yet, too few images), when they have none.
    pca_note: str | None = None
    #: Partition locations registered in the Glue catalog.
    catalog_partitions: list[str] = field(default_factory=list)
    classifier_version: str | None = None
    #: Images whose answer is ``unknown`` (below the confidence threshold).
    unknown_predictions: int = 0
    answers_written: int = 0
    report_files: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def default_batch_id(config: RunConfig) -> str:
    """The manifest's name when it is a batch id, else a stable slug of the input location."""
    source = config.manifest or config.input or ""
    stem = PurePosixPath(source.rstrip("/")).name
    if config.manifest and stem.endswith(".jsonl"):
        stem = stem[: -len(".jsonl")]
    if config.manifest and stem.startswith(BATCH_ID_PREFIX) and _BATCH_ID_RE.match(stem):
        return stem
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:40] or "input"
    return f"{slug}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def discover(config: RunConfig) -> list[InputItem]:
    """The run's files; raises InputError when there are none."""
    items = discover_from_manifest(config.manifest) if config.manifest else discover_from_root(config.input)
    if not items:
        raise InputError(f"no files found in {config.manifest or config.input}")
    return items


@dataclass(frozen=True)
class PreparedRun:
    """What the driver settles before Spark starts: the files, the batch id, the model."""

    config: RunConfig
    batch_id: str
    items: list[InputItem]
    payload: ModelPayload
    started: float


def prepare(config: RunConfig) -> PreparedRun:
    """List inputs and load the verified model; user mistakes fail here, before Spark starts."""
    started = time.perf_counter()
    batch_id = config.batch_id or default_batch_id(config)
    log.info(f"batch {batch_id}: listing {config.manifest or config.input}")
    items = discover(config)
    for target in (config.output, config.pca_dir):
        try:
            storage.check_writable(target)
        except storage.StorageError as exc:
            raise InputError(str(exc)) from None
    payload = prepare_payload(
        config.weights,
        expected_sha256(config.weights, config.weights_sha256),
        config.backend,
        config.threads_per_worker,
        precision=config.precision,
    )
    return PreparedRun(config, batch_id, items, payload, started)


def run(config: RunConfig, spark: Any) -> RunSummary:
    """Run the whole job for one batch with an existing Spark session."""
    return execute(prepare(config), spark)


def execute(prepared: PreparedRun, spark: Any) -> RunSummary:
    """Features, PCA, prediction and outputs for a prepared batch, step by step.

    With ``--pca-model`` (every deployed batch) the batch is a single pass: read, decode, infer,
    project and predict (promoted basis and classifier, in NumPy), answer, write Parquet. Without it,
    a one-off run fits its own basis on its persisted features, then projects them (two passes).
    """
    config = prepared.config
    # A promoted basis and classifier are applied where the features are: in the extraction pass.
    basis = _promoted_pca(config) if config.pca_model else _NO_BASIS
    classifier = _usable_classifier(_classifier_for_batch(config), basis[0])
    _check_same_model(basis[0], classifier, prepared.payload.model_version)
    heads = _heads(basis[0], classifier, config.confidence_threshold)
    if config.pca_model:
        written = _single_pass(spark, prepared, heads)
    else:
        written, basis = _fit_then_write(spark, prepared, heads)
    summary = _summarize(prepared, written, basis, classifier)
    _finish(spark, config, summary, basis[0])
    return summary


_NO_BASIS: tuple[PcaResult | None, str | None, str | None] = (None, None, None)


@dataclass(frozen=True)
class _Written:
    """What a batch wrote: its outcome, the datasets' base paths and the model builds it took."""

    outcome: BatchOutcome
    features_path: str
    errors_path: str
    model_builds: int


def _single_pass(spark: Any, prepared: PreparedRun, heads: Heads | None) -> _Written:
    """One Spark job over the images: no cache, no count job, no vector round trip.

    Failed files leave the stream in the workers (their rows come back with the outcomes and are
    written from the driver), answers are written by the workers, the images go straight to Parquet.
    """
    config, batch_id = prepared.config, prepared.batch_id
    model_version = prepared.payload.model_version
    outcomes = spark.sparkContext.accumulator({}, OutcomesParam())
    target = AnswerTarget(config.answers, config.input, batch_id, model_version) if config.answers else None
    recorder = OutcomeRecorder(outcomes.add, task_partition_index, target)
    extraction = _extract(spark, prepared, heads, post=recorder)
    features_path, errors_path = _dataset_paths(config.output)
    rows = _dataset_rows(extraction.frame, FEATURE_COLUMNS, model_version, batch_id)
    with _job_group(spark, single_pass_job_group(batch_id), "read, decode, infer, project, write"):
        replace_partition(spark, rows, features_path, batch_id)
    outcome = total(outcomes.value, len(prepared.items))
    log.info(f"features: {outcome.images} images, {outcome.errors} errors (one pass)")
    if outcome.images == 0:
        delete_partition(spark, features_path, batch_id)
    failed = spark.createDataFrame(outcome.error_rows, schema.ddl(_ERROR_FIELDS_SCHEMA))
    errors = _dataset_rows(failed, ERROR_COLUMNS, model_version, batch_id)
    _write_partition(spark, errors, errors_path, batch_id, empty=outcome.errors == 0)
    if target is not None:
        log.info(f"answers: {outcome.answers} written to {config.answers} ({outcome.unknown} unknown)")
    return _Written(outcome, features_path, errors_path, extraction.builds.value)


@contextmanager
def _job_group(spark: Any, group: str, description: str) -> Iterator[None]:
    """Spark jobs started in the block belong to ``group`` (the Spark UI and tests see it)."""
    sc = spark.sparkContext
    sc.setJobGroup(group, description)
    try:
        yield
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)


def single_pass_job_group(batch_id: str) -> str:
    """Spark job group of a batch's single pass (one job: the features write)."""
    return f"fruits:{batch_id}:single-pass"


_ERROR_FIELDS_SCHEMA = tuple((name, "string") for name in ERROR_FIELDS)


def _fit_then_write(
    spark: Any, prepared: PreparedRun, heads: Heads | None
) -> tuple[_Written, tuple[PcaResult | None, str | None, str | None]]:
    """A one-off run that fits its own basis: persist the features, count, fit, project, write."""
    config, batch_id = prepared.config, prepared.batch_id
    model_version = prepared.payload.model_version
    extraction = _extract(spark, prepared, heads, persist=True)
    outcome = _count_outcomes(extraction.frame, len(prepared.items))
    ok = extraction.frame.filter("error IS NULL")
    # A raw-features classifier predicted in the extraction pass; a PCA one never applies to a fresh fit.
    ok, basis = _fit_and_project(config, ok, outcome.images, model_version)
    rows = _dataset_rows(ok, FEATURE_COLUMNS, model_version, batch_id)
    errors = _dataset_rows(
        extraction.frame.filter("error IS NOT NULL"), ERROR_COLUMNS, model_version, batch_id
    )
    features_path, errors_path = _dataset_paths(config.output)
    _write_partition(spark, rows, features_path, batch_id, empty=outcome.images == 0)
    _write_partition(spark, errors, errors_path, batch_id, empty=outcome.errors == 0)
    if config.answers:
        answered, unknown = _answer_uploads(config, rows, errors, batch_id, model_version)
        outcome = replace(outcome, answers=answered, unknown=unknown)
    extraction.frame.unpersist()
    return _Written(outcome, features_path, errors_path, extraction.builds.value), basis


@dataclass(frozen=True)
class _Extraction:
    """The per-file frame of the extraction pass and its model-build counter."""

    frame: Any
    builds: Any


def _extract(
    spark: Any,
    prepared: PreparedRun,
    heads: Heads | None,
    *,
    post: OutcomeRecorder | None = None,
    persist: bool = False,
) -> _Extraction:
    """Read, decode, infer (and apply ``heads``, then ``post``) in ``mapInPandas`` over bounded batches."""
    from pyspark.storagelevel import StorageLevel

    config, items, payload = prepared.config, prepared.items, prepared.payload
    sc = spark.sparkContext
    _forward_s3_settings(sc)
    broadcast = sc.broadcast(payload)
    builds = sc.accumulator(0)
    settings = ExtractSettings(
        config.batch_size, config.max_pixels, config.max_file_bytes, config.read_threads
    )

    def add_build() -> None:
        builds.add(1)

    cache_key = (payload.backend, payload.model_version, payload.num_threads)
    partition_fn = make_partition_fn(cache_key, lambda: broadcast.value, settings, add_build, heads, post)
    partitions = max(
        1, min(len(items), max(sc.defaultParallelism * 2, math.ceil(len(items) / config.files_per_partition)))
    )
    log.info(f"{len(items)} files in {partitions} partitions; {config.backend}, {payload.model_version}")
    listing = sc.parallelize([(i.uri, i.label) for i in items], partitions).toDF("path string, label string")
    frame = listing.mapInPandas(partition_fn, EXTRACT_SCHEMA_DDL)
    return _Extraction(frame.persist(StorageLevel.MEMORY_AND_DISK) if persist else frame, builds)


def _count_outcomes(extracted: Any, inputs: int) -> BatchOutcome:
    """Images and errors by stage (a count job); refuses a batch whose outcomes do not add up."""
    by_stage = {
        row["error_stage"]: row["count"] for row in extracted.groupBy("error_stage").count().collect()
    }
    images = by_stage.pop(None, 0)
    errors = sum(by_stage.values())
    check_accounting(images, errors, inputs)
    log.info(f"features: {images} images, {errors} errors")
    return BatchOutcome(images, errors, dict(sorted(by_stage.items())))


def _fit_and_project(
    config: RunConfig, ok: Any, images: int, model_version: str
) -> tuple[Any, tuple[PcaResult | None, str | None, str | None]]:
    """A one-off folder run: fit a basis on its own images, then project them (a second pass)."""
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    vectors = ok.withColumn("features_vector", array_to_vector("features"))
    basis = _fit_pca_on_run(config, vectors, images, model_version)
    pca = basis[0]
    if pca is None:
        return ok, basis
    projected = (
        pca.model.transform(vectors)
        .withColumn("pca", vector_to_array("pca_vector", "float32"))
        .withColumn("pca_version", F.lit(pca.version))
    )
    return projected, basis


def _dataset_paths(output: str) -> tuple[str, str]:
    """Base paths of the features and errors datasets."""
    return storage.join_uri(output, FEATURES_DIR), storage.join_uri(output, ERRORS_DIR)


def _dataset_rows(frame: Any, names: tuple[str, ...], model_version: str, batch_id: str) -> Any:
    """``frame`` in a dataset's column order, with the run's columns and the batch's partition column."""
    from pyspark.sql import functions as F

    added = {
        "model_version": F.lit(model_version),
        "processed_at": F.lit(datetime.now(UTC)).cast("timestamp"),
    }
    columns = [added[c].alias(c) if c in added else F.col(c) for c in names]
    return frame.select(*columns, F.lit(batch_id).alias(PARTITION_COLUMN))


def _summarize(
    prepared: PreparedRun,
    written: _Written,
    basis: tuple[PcaResult | None, str | None, str | None],
    classifier: LoadedClassifier | None,
) -> RunSummary:
    """What the run did."""
    pca, pca_path, pca_note = basis
    batch_id, inputs, outcome = prepared.batch_id, len(prepared.items), written.outcome
    elapsed = time.perf_counter() - prepared.started
    return RunSummary(
        batch_id=batch_id,
        inputs=inputs,
        images=outcome.images,
        errors=outcome.errors,
        seconds=round(elapsed, 3),
        files_per_second=round(inputs / elapsed, 2) if elapsed > 0 else 0.0,
        model_version=prepared.payload.model_version,
        model_builds=written.model_builds,
        pca_version=pca.version if pca else None,
        pca_k=pca.k if pca else None,
        pca_fitted=bool(pca and pca.fitted),
        pca_fit_seconds=round(pca.fit_seconds, 3) if pca else None,
        explained_variance=round(float(sum(pca.explained_variance)), 6) if pca else None,
        features_path=f"{written.features_path}/{PARTITION_COLUMN}={batch_id}",
        errors_path=f"{written.errors_path}/{PARTITION_COLUMN}={batch_id}",
        pca_model_path=pca_path,
        errors_by_stage=outcome.by_stage,
        pca_note=pca_note,
        classifier_version=classifier.version if classifier else None,
        answers_written=outcome.answers,
        unknown_predictions=outcome.unknown,
    )


def _finish(spark: Any, config: RunConfig, summary: RunSummary, pca: PcaResult | None) -> None:
    """Report plots, catalog partitions and the run summary file."""
    if config.report_dir and pca is not None:
        from spark_app.report import write_report

        summary.report_files = write_report(spark, summary, pca, config.report_dir)
    if config.glue_database:
        from spark_app.catalog import register_batch

        summary.catalog_partitions = register_batch(config.glue_database, config.output, summary.batch_id)
    storage.write_text(
        storage.join_uri(config.output, RUNS_DIR, f"{summary.batch_id}.json"), summary.to_json()
    )


#: Settings that Python workers need to reach an S3-compatible endpoint other than AWS.
_EMULATOR_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


def _forward_s3_settings(sc: Any) -> None:
    """Give Python workers the driver's S3 endpoint (and, for an emulator, its credentials).

    Workers read objects with boto3 from ``sc.environment``; on AWS nothing is set and
    workers use the job role, so nothing is forwarded.
    """
    endpoint = os.environ.get(storage.ENDPOINT_ENV)
    if not endpoint:
        return
    sc.environment[storage.ENDPOINT_ENV] = endpoint
    for name in _EMULATOR_ENV:
        if os.environ.get(name):
            sc.environment[name] = os.environ[name]


def _promoted_pca(config: RunConfig) -> tuple[PcaResult | None, str | None, str | None]:
    """(basis, its URI, why there is none) for ``--pca-model``, resolved before the batch starts.

    A batch never fits when a basis is asked for: with none promoted yet its rows get no ``pca``
    (``pca fit`` + ``pca promote`` + ``pca backfill`` give every batch one basis).
    """
    version_uri = resolve_model_uri(config.pca_model, config.pca_dir)
    if version_uri is not None:
        log.info(f"PCA: projecting on {version_uri} (in the extraction pass)")
        return load_basis(version_uri), version_uri, None
    note = f"no promoted PCA basis in {config.pca_dir} yet: features written without pca"
    log.info(f"PCA: {note}")
    return None, None, note


def _fit_pca_on_run(
    config: RunConfig, ok: Any, n_images: int, model_version: str
) -> tuple[PcaResult | None, str | None, str | None]:
    """(basis, its URI, why there is none) fitted on this run's own images (no ``--pca-model``).

    Needs enough images (see ``pca_store.enough_images``) unless ``pca_fit_any_size``; never promotes.
    """
    minimum = 2 if config.pca_fit_any_size else max(2, config.pca_min_images)
    if n_images < minimum:
        note = f"{n_images} images, fewer than the {minimum} needed to fit a basis on this run"
        log.info(f"PCA: skipped, {note}")
        return None, None, note
    k = config.pca_k
    variance = None if k is not None else (config.pca_variance or DEFAULT_PCA_VARIANCE)
    log.info(f"PCA: fitting on {n_images} images ({'k=' + str(k) if k else f'variance target {variance}'})")
    pca = fit_pca(
        ok,
        "features_vector",
        "pca_vector",
        k=k,
        variance=variance,
        model_version=model_version,
        solver=config.pca_solver,
        array_col="features",
    )
    if not config.pca_fit_any_size and not enough_images(n_images, pca.k, config.pca_min_images):
        note = f"{n_images} images cannot support the k={pca.k} basis this run would need (4 per component)"
        log.info(f"PCA: discarded, {note}")
        return None, None, note
    fitted_on = {"images": n_images, "batches": [config.batch_id] if config.batch_id else [], "run": True}
    path = save_pca(pca, config.pca_dir, fitted_on=fitted_on)
    return pca, path, None


def _heads(pca: PcaResult | None, classifier: LoadedClassifier | None, threshold: float) -> Heads | None:
    """The promoted basis and classifier as NumPy arrays, applied in the extraction pass."""
    if pca is None and classifier is None:
        return None
    return Heads(
        pca_components=pca.components.astype(np.float32) if pca else None,
        pca_version=pca.version if pca else None,
        classifier_weights=classifier.weights if classifier else None,
        classifier_intercepts=classifier.intercepts if classifier else None,
        classifier_labels=tuple(classifier.labels) if classifier else (),
        classifier_features=classifier.features if classifier else RAW,
        classifier_version=classifier.version if classifier else None,
        threshold=threshold,
    )


def _check_same_model(pca: PcaResult | None, classifier: LoadedClassifier | None, model_version: str) -> None:
    """Refuse a basis or classifier made from another CNN's features (e.g. fp32 ones for an int8 batch)."""
    if pca is not None and not fitted_for(pca.version, model_version):
        raise PcaError(
            f"PCA basis {pca.version} was fitted on features of another model than {model_version}: "
            "fit and promote a basis for this model (or run with the model it was fitted for)"
        )
    if classifier is not None and classifier.model_version not in (None, model_version):
        raise ClassifierError(
            f"classifier {classifier.version} was trained on {classifier.model_version} features, "
            f"not {model_version}: train and promote one for this model"
        )


def _usable_classifier(
    classifier: LoadedClassifier | None, basis: PcaResult | None
) -> LoadedClassifier | None:
    """The classifier, unless it was trained on a PCA projection other than the batch's promoted basis."""
    if classifier is None or classifier.features == RAW:
        return classifier
    if basis is None or basis.version != classifier.pca_version:
        log.info(
            f"classifier: {classifier.version} was trained on PCA {classifier.pca_version}, not on this "
            f"batch's basis ({basis.version if basis else 'none'}): rows get no prediction"
        )
        return None
    return classifier


def _classifier_for_batch(config: RunConfig) -> LoadedClassifier | None:
    """The classifier to predict with: the given or promoted version, or None (no prediction yet)."""
    if not config.classifier:
        return None
    uri = resolve_classifier(config.classifier, config.classifier_dir)
    if uri is None:
        log.info(f"classifier: none promoted in {config.classifier_dir} yet: rows get no prediction")
        return None
    log.info(f"classifier: predicting with {uri}")
    return load_classifier_arrays(uri)


def _answer_uploads(
    config: RunConfig, rows: Any, errors: Any, batch_id: str, model_version: str
) -> tuple[int, int]:
    """One answer per input (prediction or error reason), from the driver; (written, unknown)."""
    import pandas as pd

    wanted = ["path", "image_id", "pca_version", *_PREDICTION_COLUMNS]
    frame = pd.concat(
        [
            rows.select(*wanted).toPandas().assign(error=None, error_stage=None),
            errors.select("path", "error_stage", "error").toPandas(),
        ],
        ignore_index=True,
    )
    target = AnswerTarget(config.answers, config.input, batch_id, model_version)
    written = write_answers(config.answers, batch_answers(frame, target))
    unknown = int((frame["predicted_label"] == UNKNOWN).sum())
    log.info(f"answers: {written} written to {config.answers} ({unknown} unknown)")
    return written, unknown


def _write_partition(spark: Any, frame: Any, base: str, batch_id: str, *, empty: bool) -> None:
    """Replace this batch's partition under ``base`` (re-runs replace, never duplicate)."""
    if empty:
        delete_partition(spark, base, batch_id)
    else:
        replace_partition(spark, frame, base, batch_id)
