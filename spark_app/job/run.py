"""The feature job, top to bottom: prepare (no Spark) -> one pass -> write -> summary.

1. :func:`prepare`, before Spark starts: list the inputs, check the outputs are writable, read and
   verify the model, load the promoted PCA basis and classifier (arrays, no Spark). Every user mistake
   fails here.
2. :func:`single_pass`: one Spark job. Each Python worker reads, decodes, infers, projects and predicts
   (``job/extract.py``), writes each upload's answer, and streams the images to Parquet; failed files and
   per-partition counts come back in an accumulator keyed by partition, exact even when a task is retried.
3. :func:`finish`: the errors partition, the Glue partitions and the run summary file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spark_app.core import schema
from spark_app.core.defaults import ERRORS_DIR, FEATURES_DIR, RUNS_DIR
from spark_app.core.erasure import APP_UPLOADS_PREFIX, tombstoned
from spark_app.core.heads import Basis, Classifier, Heads
from spark_app.core.model import ModelPayload
from spark_app.core.uris import join_uri
from spark_app.job.config import RunConfig
from spark_app.job.extract import ExtractSettings, make_partition_fn
from spark_app.job.inputs import InputError, InputItem, discover
from spark_app.job.outcomes import (
    ERROR_FIELDS,
    AnswerTarget,
    BatchOutcome,
    OutcomeRecorder,
    OutcomesParam,
    task_partition_index,
    total,
)
from spark_app.job.summary import RunSummary
from spark_app.job.tasks import partition_count, task_slots
from spark_app.models import registry
from spark_app.models.weights import expected_sha256, prepare_payload
from spark_app.store import objects
from spark_app.store.partitions import delete_partition, partition_name, replace_partition
from spark_app.store.tombstones import lease, tombstoned_digests

log = logging.getLogger("fruits")

FEATURE_COLUMNS = tuple(schema.names(schema.FEATURES))
ERROR_COLUMNS = tuple(schema.names(schema.ERRORS))
EXTRACT_SCHEMA_DDL = schema.ddl(schema.EXTRACTED_WITH_HEADS)
_ERROR_FIELDS_DDL = schema.ddl(tuple((name, "string") for name in ERROR_FIELDS))


@dataclass(frozen=True)
class PreparedRun:
    """What the driver settles before Spark starts."""

    config: RunConfig
    batch_id: str
    items: list[InputItem]
    payload: ModelPayload
    heads: Heads
    pca_note: str | None
    classifier_note: str | None
    started: float


def run(config: RunConfig, spark: Any) -> RunSummary:
    """The whole job for one batch, with an existing Spark session."""
    with writer_lease(config):
        return execute(prepare(config), spark)


def writer_lease(config: RunConfig) -> AbstractContextManager[Any]:
    """The batch's lease on its partition (``store/tombstones.py``): taken before :func:`prepare` reads
    the tombstones, held until the job has written everything; an erasure waits for it."""
    try:
        objects.check_writable(config.output)
    except objects.StorageError as exc:
        raise InputError(str(exc)) from None
    return lease(config.output, config.resolved_batch_id())


def without_erased(store: str, items: list[InputItem]) -> list[InputItem]:
    """``items`` without the uploads of identities being erased (read after the lease is taken)."""
    digests = tombstoned_digests(store)
    if not digests:
        return items
    kept = [item for item in items if not tombstoned(item.uri, digests, APP_UPLOADS_PREFIX)]
    if len(kept) < len(items):
        log.info(f"{len(items) - len(kept)} upload(s) left out: their identity is being erased")
    return kept


def prepare(config: RunConfig) -> PreparedRun:
    """Inputs, writable outputs, the verified model and the promoted heads; no Spark."""
    started = time.perf_counter()
    batch_id = config.resolved_batch_id()
    log.info(f"batch {batch_id}: listing {config.manifest or config.input}")
    items = without_erased(config.output, discover(input_root=config.input, manifest=config.manifest))
    for target in (config.output, *([config.answers] if config.answers else [])):
        try:
            objects.check_writable(target)
        except objects.StorageError as exc:
            raise InputError(str(exc)) from None
    payload = prepare_payload(
        config.weights,
        expected_sha256(config.weights, config.weights_sha256),
        config.backend,
        config.threads_per_worker,
        precision=config.precision,
    )
    basis, pca_note = _promoted(config.pca_model, config.pca_dir, registry.load_basis, "PCA basis")
    classifier, classifier_note = _promoted(
        config.classifier, config.classifiers_dir, registry.load_classifier, "classifier"
    )
    heads = Heads.for_model(payload.model_version, basis, classifier, config.confidence_threshold)
    if classifier is not None and heads.classifier is None:
        classifier_note = (
            f"{classifier.version} was trained on PCA {classifier.pca_version}, not on this basis"
        )
    for note in (pca_note, classifier_note):
        if note:
            log.info(note)
    return PreparedRun(config, batch_id, items, payload, heads, pca_note, classifier_note, started)


def _promoted(
    reference: str, model_dir: str, load: Any, kind: str
) -> tuple[Basis | Classifier | None, str | None]:
    """(the version ``reference`` names, why there is none)."""
    uri = registry.resolve(reference, model_dir)
    if uri is None:
        return None, f"no {kind} promoted in {model_dir} yet"
    log.info(f"{kind}: {uri}")
    return load(uri), None


def execute(prepared: PreparedRun, spark: Any) -> RunSummary:
    """The Spark part of a prepared job: one pass, then the errors, catalog and summary."""
    outcome, builds = single_pass(spark, prepared)
    summary = summarize(prepared, outcome, builds)
    finish(spark, prepared, outcome, summary)
    return summary


def single_pass(spark: Any, prepared: PreparedRun) -> tuple[BatchOutcome, int]:
    """One Spark job over the images: no cache, no count job; returns (outcome, model builds)."""
    config, batch_id = prepared.config, prepared.batch_id
    sc = spark.sparkContext
    # Python workers read and write objects with boto3: the driver's region (and emulator) settings.
    sc.environment.update(objects.worker_environment())
    outcomes = sc.accumulator({}, OutcomesParam())
    builds = sc.accumulator(0)
    target = None
    if config.answers:
        target = AnswerTarget(config.answers, config.input, batch_id, prepared.payload.model_version)
    frame = _extraction(spark, prepared, builds, OutcomeRecorder(outcomes.add, task_partition_index, target))
    rows = dataset_rows(frame, FEATURE_COLUMNS, prepared.payload.model_version, batch_id)
    features_base = join_uri(config.output, FEATURES_DIR)
    with job_group(spark, single_pass_job_group(batch_id), "read, decode, infer, project, write"):
        replace_partition(spark, rows, features_base, batch_id)
    outcome = total(outcomes.value, len(prepared.items))
    if outcome.images == 0:
        delete_partition(features_base, batch_id)
    log.info(f"features: {outcome.images} images, {outcome.errors} errors (one pass)")
    if target is not None:
        log.info(
            f"answers: {outcome.answers} written to {config.answers} ({outcome.unknown} unknown), "
            f"{outcome.answers_kept} already answered"
        )
    return outcome, builds.value


def _extraction(spark: Any, prepared: PreparedRun, builds: Any, recorder: OutcomeRecorder) -> Any:
    """The per-file frame: ``mapInPandas`` of the extraction over the listing, with the model broadcast."""
    config, items, payload = prepared.config, prepared.items, prepared.payload
    sc = spark.sparkContext
    broadcast = sc.broadcast(payload)
    settings = ExtractSettings(
        config.batch_size, config.max_pixels, config.max_file_bytes, config.read_threads
    )

    def add_build() -> None:
        builds.add(1)

    cache_key = (payload.backend, payload.model_version, payload.num_threads)
    fn = make_partition_fn(cache_key, lambda: broadcast.value, settings, add_build, prepared.heads, recorder)
    slots = task_slots(sc.getConf().get, sc.defaultParallelism)
    partitions = partition_count(len(items), slots, config.files_per_partition)
    tasks = f"{partitions} task{'s' if partitions > 1 else ''}"
    model = f"{payload.backend}, {payload.model_version}"
    log.info(f"{len(items)} files in {tasks} ({slots} slots at most); {model}")
    listing = sc.parallelize([(i.uri, i.label) for i in items], partitions).toDF("path string, label string")
    return listing.mapInPandas(fn, EXTRACT_SCHEMA_DDL)


def dataset_rows(frame: Any, names: tuple[str, ...], model_version: str, batch_id: str) -> Any:
    """``frame`` in a dataset's column order, with the run's columns and the batch's partition column."""
    from pyspark.sql import functions as F

    added = {
        "model_version": F.lit(model_version),
        "processed_at": F.lit(datetime.now(UTC)).cast("timestamp"),
    }
    columns = [added[c].alias(c) if c in added else F.col(c) for c in names]
    return frame.select(*columns, F.lit(batch_id).alias(schema.PARTITION_COLUMN))


@contextmanager
def job_group(spark: Any, group: str, description: str) -> Iterator[None]:
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


def summarize(prepared: PreparedRun, outcome: BatchOutcome, builds: int) -> RunSummary:
    """What the job did."""
    config, batch_id, heads = prepared.config, prepared.batch_id, prepared.heads
    elapsed = time.perf_counter() - prepared.started
    inputs = len(prepared.items)
    return RunSummary(
        batch_id=batch_id,
        inputs=inputs,
        images=outcome.images,
        errors=outcome.errors,
        seconds=round(elapsed, 3),
        files_per_second=round(inputs / elapsed, 2) if elapsed > 0 else 0.0,
        model_version=prepared.payload.model_version,
        model_builds=builds,
        features_path=_partition_path(config.output, FEATURES_DIR, batch_id) if outcome.images else None,
        errors_path=_partition_path(config.output, ERRORS_DIR, batch_id) if outcome.errors else None,
        errors_by_stage=outcome.by_stage,
        pca_version=heads.basis.version if heads.basis else None,
        pca_k=heads.basis.k if heads.basis else None,
        pca_note=prepared.pca_note,
        classifier_version=heads.classifier.version if heads.classifier else None,
        classifier_note=prepared.classifier_note,
        unknown_predictions=outcome.unknown,
        answers_written=outcome.answers,
        answers_kept=outcome.answers_kept,
    )


def _partition_path(output: str, dataset: str, batch_id: str) -> str:
    return join_uri(output, dataset, partition_name(batch_id))


def finish(spark: Any, prepared: PreparedRun, outcome: BatchOutcome, summary: RunSummary) -> None:
    """The errors partition, the catalog partitions and the run summary file."""
    config, batch_id = prepared.config, prepared.batch_id
    errors_base = join_uri(config.output, ERRORS_DIR)
    if outcome.errors:
        failed = spark.createDataFrame(outcome.error_rows, _ERROR_FIELDS_DDL)
        errors = dataset_rows(failed, ERROR_COLUMNS, prepared.payload.model_version, batch_id)
        replace_partition(spark, errors, errors_base, batch_id)
    else:
        delete_partition(errors_base, batch_id)
    if config.glue_database:
        from spark_app.store.catalog import register_batch

        summary.catalog_partitions = register_batch(config.glue_database, config.output, batch_id)
    objects.write_text(join_uri(config.output, RUNS_DIR, f"{batch_id}.json"), summary.to_json())
