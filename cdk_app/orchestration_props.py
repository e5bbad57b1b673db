"""Props of the Orchestration and Refit constructs: their state machines and how their Spark jobs run.

:class:`SparkJobProps` is what every Spark job state shares (code, worker sizes, timeout, retries); the
feature pipeline (:class:`OrchestrationProps`) and the refit (:class:`RefitProps`) each hold one, plus what
their own jobs are asked to do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from cdk_app import shared
from cdk_app.artifacts_props import ArtifactsProps
from cdk_app.validation import (
    ConfigError,
    require_between,
    require_glue_name,
    require_match,
    require_positive,
    require_prefix,
)

#: EMR Serverless worker sizes: vCPU -> (smallest GB, largest GB, step GB) of the worker's memory.
#: Source: EMR Serverless User Guide, "Worker configurations" (also in ../shared/notes/aws-notes.md).
EMR_WORKER_MEMORY_GB: dict[int, tuple[int, int, int]] = {
    1: (2, 8, 1),
    2: (4, 16, 1),
    4: (8, 30, 1),
    8: (16, 60, 4),
    16: (32, 120, 8),
}

#: Retries of a job state (cdk_app/orchestration.py applies them; the timeouts below account for them).
#: Service errors (throttling, service-side faults): first wait, attempts, backoff rate.
TRANSIENT_RETRY_SECONDS, TRANSIENT_RETRY_ATTEMPTS, RETRY_BACKOFF = 30, 4, 2
#: A failed run: first wait before running it again (``job_failure_retries`` times).
FAILED_RUN_RETRY_MINUTES = 2

#: A Step Functions state machine name (1-80 characters).
_STATE_MACHINE_NAME = r"[A-Za-z0-9_-]{1,80}"
_STATE_MACHINE_NAME_FORM = "1-80 characters of A-Z a-z 0-9 _ -"
_ARTIFACTS = ArtifactsProps()


def validate_worker(role: str, vcpu: int, memory_gb: int) -> None:
    """Raise ConfigError unless ``vcpu``/``memory_gb`` is a worker size EMR Serverless accepts."""
    if vcpu not in EMR_WORKER_MEMORY_GB:
        raise ConfigError(
            f"{role}: {vcpu} vCPU is not an EMR Serverless worker size; use one of "
            f"{', '.join(map(str, EMR_WORKER_MEMORY_GB))}"
        )
    low, high, step = EMR_WORKER_MEMORY_GB[vcpu]
    if not low <= memory_gb <= high or (memory_gb - low) % step:
        raise ConfigError(
            f"{role}: {memory_gb} GB (Spark memory + overhead) is not allowed for a {vcpu}-vCPU "
            f"EMR Serverless worker: use {low}-{high} GB in steps of {step} GB"
        )


@dataclass(frozen=True)
class DriverSize:
    """A Spark driver's cores, memory and memory overhead (GB)."""

    cores: int
    memory_gb: int
    memory_overhead_gb: int

    @property
    def worker_memory_gb(self) -> int:
        return self.memory_gb + self.memory_overhead_gb


@dataclass(frozen=True)
class SparkJobProps:
    """How every Spark job state runs: code, Python, worker sizes, timeout, retries and logs.

    Worker sizing (see docs/cost-model.md): the smallest workers that fit, because a job's floor (each
    worker's 1-minute minimum) is most of a streaming batch's bill. A worker's memory is Spark memory
    plus overhead and must be a size EMR Serverless offers (:data:`EMR_WORKER_MEMORY_GB`); each driver and
    one executor must fit under the application's cap.
    """

    #: Artifacts-bucket key of the spark_app zip (``--py-files``). Default ``code/spark_app.zip``.
    code_archive_key: str = _ARTIFACTS.code_archive_key
    #: Artifacts-bucket key of the spark-submit entry script. Default ``code/main.py``.
    entry_point_key: str = _ARTIFACTS.entry_point_key
    #: The image's Python for the driver and the executors. An absolute path. Default ``/usr/bin/python3.11``.
    python_path: str = "/usr/bin/python3.11"
    #: Cores of an executor: one Python worker per core. An EMR worker size (1, 2, 4, 8, 16). Default 2.
    executor_cores: int = 2
    #: Spark memory of an executor (GB). Positive. Default 2.
    executor_memory_gb: int = 2
    #: Memory overhead of an executor (GB): holds the Python workers (<= 0.41 GB each, measured).
    #: Positive. Default 2 (a 2 vCPU / 4 GB worker).
    executor_memory_overhead_gb: int = 2
    #: Cores of the feature job's driver (it lists, broadcasts and collects error rows). An EMR worker
    #: size. Default 1.
    driver_cores: int = 1
    #: Spark memory of the feature job's driver (GB). Positive. Default 2.
    driver_memory_gb: int = 2
    #: Memory overhead of the feature job's driver (GB). Positive. Default 2 (a 1 vCPU / 4 GB worker).
    driver_memory_overhead_gb: int = 2
    #: Cores of the refit jobs' driver: the classifier's training collects its training features
    #: (90,000 x 1,280 values ~ 1 GB) and the PCA fit reduces 1280 x 1280 sums. An EMR worker size.
    #: Default 2.
    refit_driver_cores: int = 2
    #: Spark memory of the refit jobs' driver (GB). Positive. Default 12.
    refit_driver_memory_gb: int = 12
    #: Memory overhead of the refit jobs' driver (GB). Positive. Default 4 (a 2 vCPU / 16 GB worker).
    refit_driver_memory_overhead_gb: int = 4
    #: Executors a job starts with (EMR Serverless' default is 3): a small batch pays one executor's
    #: minute; dynamic allocation adds more while tasks queue. 1 to :attr:`max_executors`. Default 1.
    initial_executors: int = 1
    #: Seconds tasks must have waited before dynamic allocation asks for more executors
    #: (``spark.dynamicAllocation.schedulerBacklogTimeout``; then it doubles the request every 5 s).
    #: About a worker's provisioning time: a backlog that clears sooner is not worth a new executor's
    #: minute. Positive. Default 30.
    scale_out_after_seconds: int = 30
    #: The application's vCPU cap (ProcessingProps): bounds ``maxExecutors``. Default 32.
    emr_max_vcpu: int = shared.EMR_MAX_VCPU
    #: The application's memory cap in GB (ProcessingProps). Default 128.
    emr_max_memory_gb: int = shared.EMR_MAX_MEMORY_GB
    #: ``ExecutionTimeoutMinutes`` of a job run. Positive. Default 120.
    job_timeout_minutes: int = shared.JOB_TIMEOUT_MINUTES
    #: Minutes a job state waits beyond the run's queue and execution timeouts: the application's
    #: automatic start and the workers' provisioning. Positive. Default 30.
    job_start_margin_minutes: int = 30
    #: Retries of a failed job run (transient capacity/infrastructure errors). At least 0. Default 1.
    job_failure_retries: int = 1
    #: Days the state machines' CloudWatch logs are kept (rounded up to a CloudWatch period). Positive.
    #: Default 30.
    log_retention_days: int = shared.LOG_RETENTION_DAYS

    def __post_init__(self) -> None:
        require_match(self, "python_path", r"/\S+", "an absolute path")
        require_positive(
            self,
            "executor_memory_gb",
            "executor_memory_overhead_gb",
            "driver_memory_gb",
            "driver_memory_overhead_gb",
            "refit_driver_memory_gb",
            "refit_driver_memory_overhead_gb",
            "job_timeout_minutes",
            "job_start_margin_minutes",
            "scale_out_after_seconds",
            "log_retention_days",
        )
        if self.job_failure_retries < 0:
            raise ConfigError("job_failure_retries must be >= 0")
        validate_worker("executor", self.executor_cores, self.executor_worker_memory_gb)
        for role, driver in (("driver", self.batch_driver), ("refit driver", self.refit_driver)):
            validate_worker(role, driver.cores, driver.worker_memory_gb)
            if driver.cores + self.executor_cores > self.emr_max_vcpu:
                raise ConfigError("emr_max_vcpu must fit each driver and at least one executor")
            if driver.worker_memory_gb + self.executor_worker_memory_gb > self.emr_max_memory_gb:
                raise ConfigError("emr_max_memory_gb must fit each driver and at least one executor")
        require_between(self, "initial_executors", 1, self.max_executors, "the executors that fit")

    @property
    def executor_worker_memory_gb(self) -> int:
        """Memory of one executor worker: Spark memory plus overhead."""
        return self.executor_memory_gb + self.executor_memory_overhead_gb

    @property
    def batch_driver(self) -> DriverSize:
        """The feature job's driver."""
        return DriverSize(self.driver_cores, self.driver_memory_gb, self.driver_memory_overhead_gb)

    @property
    def refit_driver(self) -> DriverSize:
        """The refit jobs' driver."""
        return DriverSize(
            self.refit_driver_cores, self.refit_driver_memory_gb, self.refit_driver_memory_overhead_gb
        )

    @property
    def queue_timeout_minutes(self) -> int:
        """How long a run may wait in the application's queue (the application's scheduler setting)."""
        return shared.queue_timeout_minutes(self.job_timeout_minutes)

    @property
    def task_timeout_minutes(self) -> int:
        """A job state's ``TimeoutSeconds``, in minutes: queue + execution + start margin.

        A run may queue for the queue timeout (behind a refit, say) and then run for its execution
        timeout: Step Functions must not cancel it before EMR Serverless would.
        """
        return self.queue_timeout_minutes + self.job_timeout_minutes + self.job_start_margin_minutes

    def state_machine_timeout_minutes(self, jobs: int) -> int:
        """A state machine of ``jobs`` job states in a row: every attempt of each (its full task timeout),
        the retries' waits, and an hour for the rest (the failure alert)."""
        waits_s = sum(TRANSIENT_RETRY_SECONDS * RETRY_BACKOFF**i for i in range(TRANSIENT_RETRY_ATTEMPTS))
        retries = self.job_failure_retries
        waits_s += sum(FAILED_RUN_RETRY_MINUTES * 60 * RETRY_BACKOFF**i for i in range(retries))
        per_job = (1 + retries) * self.task_timeout_minutes + math.ceil(waits_s / 60)
        return jobs * per_job + 60

    @property
    def max_executors(self) -> int:
        """Executors that fit under the application's vCPU cap next to the feature job's driver."""
        return max(1, (self.emr_max_vcpu - self.driver_cores) // self.executor_cores)


@dataclass(frozen=True)
class OrchestrationProps:
    """The feature pipeline: one Spark job per batch (features, PCA projection, prediction, answers)."""

    #: Name of the state machine (the ingest Lambda starts it). Pattern ``[A-Za-z0-9_-]{1,80}``.
    #: Default ``fruits-feature-pipeline``.
    state_machine_name: str = shared.DEFAULT_NAMES.state_machine
    #: How the job runs (code, sizes, timeout, retries, logs). Default ``SparkJobProps()``.
    spark: SparkJobProps = field(default_factory=SparkJobProps)
    #: Artifacts-bucket key of the pinned weights (``--weights``).
    #: Default ``models/mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5``.
    weights_key: str = _ARTIFACTS.weights_key
    #: Feature store root in the results bucket (``--output``). Pattern ``name/``.
    #: Default ``features-store/``.
    features_prefix: str = shared.FEATURES_PREFIX
    #: PCA bases in the artifacts bucket (``--pca-model-dir``). Pattern ``name/``. Default ``pca-models/``.
    pca_models_prefix: str = shared.PCA_MODELS_PREFIX
    #: Classifiers in the artifacts bucket (``--classifier-dir``). Pattern ``name/``.
    #: Default ``classifiers/``.
    classifiers_prefix: str = shared.CLASSIFIERS_PREFIX
    #: Answers in the results bucket (``--answers``). Pattern ``name/``. Default ``answers/``.
    answers_prefix: str = shared.ANSWERS_PREFIX
    #: Glue database the job registers its batch partition in (``--glue-database``).
    #: Pattern ``[a-z0-9_]{1,255}``. Default ``fruits_features``.
    glue_database: str = shared.DEFAULT_NAMES.glue_database
    #: Largest file the job reads (``--max-file-bytes``), the ingest Lambda's limit too. Positive.
    #: Default 52428800 (50 MiB).
    max_object_bytes: int = shared.MAX_OBJECT_BYTES
    #: Predictions below this probability are answered "unknown" (``--confidence-threshold``). In (0, 1].
    #: Default 0.5.
    confidence_threshold: float = 0.5

    def __post_init__(self) -> None:
        require_match(self, "state_machine_name", _STATE_MACHINE_NAME, _STATE_MACHINE_NAME_FORM)
        require_prefix(self, "features_prefix", "pca_models_prefix", "classifiers_prefix", "answers_prefix")
        require_glue_name(self, "glue_database")
        require_positive(self, "max_object_bytes")
        if not 0 < self.confidence_threshold <= 1:
            raise ConfigError("confidence_threshold must be in (0, 1]")


@dataclass(frozen=True)
class RefitProps:
    """The refit: fit a PCA basis over the store -> promote -> back-fill -> train a classifier -> promote."""

    #: Name of the refit state machine. Pattern ``[A-Za-z0-9_-]{1,80}``. Default ``fruits-pca-refit``.
    state_machine_name: str = shared.DEFAULT_NAMES.refit_state_machine
    #: Name of the EventBridge Scheduler schedule (when :attr:`refit_schedule` is set). 1-64 characters
    #: of ``[0-9a-zA-Z-_.]``. Default ``fruits-weekly-refit``.
    schedule_name: str = shared.DEFAULT_NAMES.refit_schedule
    #: EventBridge Scheduler expression, e.g. ``rate(7 days)`` or ``cron(0 3 ? * MON *)``; ``""`` = on
    #: demand only (no schedule). Default ``""``.
    refit_schedule: str = ""
    #: How the jobs run (the refit driver of :class:`SparkJobProps`). Default ``SparkJobProps()``.
    spark: SparkJobProps = field(default_factory=SparkJobProps)
    #: Feature store root in the results bucket (``--store``). Pattern ``name/``. Default ``features-store/``.
    features_prefix: str = shared.FEATURES_PREFIX
    #: PCA bases in the artifacts bucket. Pattern ``name/``. Default ``pca-models/``.
    pca_models_prefix: str = shared.PCA_MODELS_PREFIX
    #: Classifiers in the artifacts bucket. Pattern ``name/``. Default ``classifiers/``.
    classifiers_prefix: str = shared.CLASSIFIERS_PREFIX
    #: Images the store needs before a PCA basis is fitted (``--min-images``). Positive. Default 1000.
    pca_min_images: int = 1000
    #: Labelled images per class a classifier needs (``--min-per-class``). Positive. Default 5.
    classifier_min_per_class: int = 5
    #: Train and promote a classifier after each PCA refit (needs labelled uploads). Default True.
    refit_trains_classifier: bool = True

    def __post_init__(self) -> None:
        require_match(self, "state_machine_name", _STATE_MACHINE_NAME, _STATE_MACHINE_NAME_FORM)
        require_match(self, "schedule_name", r"[0-9a-zA-Z_.-]{1,64}", "1-64 characters of 0-9 a-z A-Z _ . -")
        if self.refit_schedule and not re.fullmatch(r"(rate|cron|at)\(.+\)", self.refit_schedule):
            raise ConfigError(
                f"refit_schedule {self.refit_schedule!r} is not an EventBridge Scheduler expression "
                "(e.g. 'rate(7 days)' or 'cron(0 3 ? * MON *)'); '' turns the schedule off"
            )
        require_prefix(self, "features_prefix", "pca_models_prefix", "classifiers_prefix")
        require_positive(self, "pca_min_images", "classifier_min_per_class")
