"""Props of the Processing construct: the EMR Serverless application and what its job role may reach."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import (
    ConfigError,
    require_between,
    require_glue_name,
    require_match,
    require_positive,
    require_prefix,
)

#: The job role's key prefixes, in the order its policy statements and acknowledgements use them.
JOB_PREFIXES = (
    "uploads_prefix",
    "curated_prefix",
    "code_prefix",
    "models_prefix",
    "manifests_prefix",
    "pca_models_prefix",
    "emr_logs_prefix",
    "features_prefix",
    "classifiers_prefix",
    "answers_prefix",
)


@dataclass(frozen=True)
class ProcessingProps:
    """The Spark application (release, capacity cap, auto-stop, scheduler) and its job role's scope."""

    #: Name of the EMR Serverless application. Pattern ``[A-Za-z0-9._/#-]{1,64}``.
    #: Default ``fruits-features`` (``<name_prefix>-features``).
    application_name: str = shared.DEFAULT_NAMES.emr_application
    #: EMR release of the application (and of the custom image's base). Pattern ``emr-X.Y.Z``.
    #: Default ``emr-7.12.0``.
    emr_release_label: str = "emr-7.12.0"
    #: Capacity cap of the application in vCPU. At least 4 (one driver and one executor). Default 32.
    emr_max_vcpu: int = shared.EMR_MAX_VCPU
    #: Capacity cap of the application in GB of memory. Positive. Default 128.
    emr_max_memory_gb: int = shared.EMR_MAX_MEMORY_GB
    #: Capacity cap of the application in GB of disk. Positive. Default 640.
    emr_max_disk_gb: int = 640
    #: Minutes idle before the application stops. 1-10080 (EMR Serverless). Default 5.
    emr_idle_timeout_minutes: int = 5
    #: Job runs the application runs at once (others queue). 1-1000 (EMR Serverless). Default 2.
    emr_max_concurrent_runs: int = 2
    #: A job run's timeout in minutes: a queued run waits as long (clamped to EMR's 15-720).
    #: Positive. Default 120.
    job_timeout_minutes: int = shared.JOB_TIMEOUT_MINUTES
    #: Glue database the jobs register their batch partitions in. Pattern ``[a-z0-9_]{1,255}``.
    #: Default ``fruits_features``.
    glue_database: str = shared.DEFAULT_NAMES.glue_database
    #: Raw uploads the jobs read (ingestion bucket). Pattern ``name/``. Default ``uploads/``.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: Curated (labelled) data the jobs read (ingestion bucket). Pattern ``name/``. Default ``curated/``.
    curated_prefix: str = shared.CURATED_PREFIX
    #: Spark code the jobs read (artifacts bucket). Pattern ``name/``. Default ``code/``.
    code_prefix: str = shared.CODE_PREFIX
    #: Model files the jobs read (artifacts bucket). Pattern ``name/``. Default ``models/``.
    models_prefix: str = shared.MODELS_PREFIX
    #: Batch manifests the jobs read (artifacts bucket). Pattern ``name/``. Default ``manifests/``.
    manifests_prefix: str = shared.MANIFESTS_PREFIX
    #: PCA bases the jobs read and write (artifacts bucket). Pattern ``name/``. Default ``pca-models/``.
    pca_models_prefix: str = shared.PCA_MODELS_PREFIX
    #: Where the application writes job logs (artifacts bucket). Pattern ``name/``. Default ``emr-logs/``.
    emr_logs_prefix: str = shared.EMR_LOGS_PREFIX
    #: Feature store the jobs read and write (results bucket). Pattern ``name/``.
    #: Default ``features-store/``.
    features_prefix: str = shared.FEATURES_PREFIX
    #: Classifier versions the jobs read and write (artifacts bucket). Pattern ``name/``.
    #: Default ``classifiers/``.
    classifiers_prefix: str = shared.CLASSIFIERS_PREFIX
    #: Answers the jobs write (results bucket). Pattern ``name/``. Default ``answers/``.
    answers_prefix: str = shared.ANSWERS_PREFIX

    def __post_init__(self) -> None:
        require_match(
            self, "application_name", r"[A-Za-z0-9._/#-]{1,64}", "1-64 characters of A-Z a-z 0-9 . _ / # -"
        )
        require_match(
            self, "emr_release_label", r"emr-\d+\.\d+\.\d+", "an EMR release label like 'emr-7.12.0'"
        )
        if self.emr_max_vcpu < 4:
            raise ConfigError("emr_max_vcpu must be at least 4 (one driver and one executor)")
        require_positive(self, "emr_max_memory_gb", "emr_max_disk_gb", "job_timeout_minutes")
        require_between(self, "emr_idle_timeout_minutes", 1, 10080, "EMR Serverless auto-stop limit")
        require_between(self, "emr_max_concurrent_runs", 1, 1000, "EMR Serverless scheduler limit")
        require_glue_name(self, "glue_database")
        require_prefix(self, *JOB_PREFIXES)

    @property
    def queue_timeout_minutes(self) -> int:
        """How long a run may wait in the queue: the job timeout, within EMR's 15-720 minutes."""
        return shared.queue_timeout_minutes(self.job_timeout_minutes)
