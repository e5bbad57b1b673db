"""Props of the PipelineStack: one props object per construct, and the values they must agree on."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdk_app import shared
from cdk_app.answer_props import AnswerProps
from cdk_app.app_access_props import AppAccessProps
from cdk_app.artifacts_props import ArtifactsProps
from cdk_app.catalog_props import CatalogProps
from cdk_app.erasure_props import ErasureProps
from cdk_app.ingest_props import IngestProps
from cdk_app.monitoring_props import AlertTopicProps, MonitoringProps
from cdk_app.orchestration_props import OrchestrationProps, RefitProps
from cdk_app.processing_props import ProcessingProps
from cdk_app.storage_props import StorageProps
from cdk_app.validation import ConfigError, require_match


@dataclass(frozen=True)
class PipelineProps:
    """Every construct's props for one pipeline stack (:meth:`PipelineConfig.props` assembles them)."""

    #: Value of the ``project`` tag on every resource. Non-empty. Default ``fruits``.
    project_tag: str = shared.DEFAULT_NAME_PREFIX
    #: The four buckets' lifecycle. Default ``StorageProps()``.
    storage: StorageProps = field(default_factory=StorageProps)
    #: The Spark code and model files shipped. Default ``ArtifactsProps()``.
    artifacts: ArtifactsProps = field(default_factory=ArtifactsProps)
    #: The alert topic. Default ``AlertTopicProps()``.
    alerts: AlertTopicProps = field(default_factory=AlertTopicProps)
    #: The EMR Serverless application and job role. Default ``ProcessingProps()``.
    processing: ProcessingProps = field(default_factory=ProcessingProps)
    #: The Glue database and tables. Default ``CatalogProps()``.
    catalog: CatalogProps = field(default_factory=CatalogProps)
    #: The feature pipeline's state machine. Default ``OrchestrationProps()``.
    orchestration: OrchestrationProps = field(default_factory=OrchestrationProps)
    #: The refit's state machine (and schedule). Default ``RefitProps()``.
    refit: RefitProps = field(default_factory=RefitProps)
    #: The upload queue and ingest Lambda. Default ``IngestProps()``.
    ingest: IngestProps = field(default_factory=IngestProps)
    #: Alarms and budget. Default ``MonitoringProps()``.
    monitoring: MonitoringProps = field(default_factory=MonitoringProps)
    #: The instant-answer Lambda and its trigger. Default ``AnswerProps()``.
    answer: AnswerProps = field(default_factory=AnswerProps)
    #: The app's identities, API and API Lambda. Default ``AppAccessProps()``.
    app_access: AppAccessProps = field(default_factory=AppAccessProps)
    #: The erasure state machine. Default ``ErasureProps()``.
    erasure: ErasureProps = field(default_factory=ErasureProps)

    def __post_init__(self) -> None:
        require_match(self, "project_tag", r".+", "non-empty")
        for name, values in self.shared_values().items():
            if len(set(values.values())) > 1:
                found = ", ".join(f"{where}: {value!r}" for where, value in values.items())
                raise ConfigError(f"{name} must be the same in every construct's props ({found})")
        ingestion_prefixes = {
            "uploads_prefix": self.storage.uploads_prefix,
            "curated_prefix": self.ingest.curated_prefix,
            "staging_prefix": self.storage.staging_prefix,
        }
        for name, prefix in ingestion_prefixes.items():
            for other, other_prefix in ingestion_prefixes.items():
                if name != other and prefix.startswith(other_prefix):
                    raise ConfigError(
                        f"{name} {prefix!r} lies under {other} {other_prefix!r}: app uploads, curated data "
                        "and staged photos must be apart (labels, ingestion and retention differ)"
                    )
        self.check_timeouts()

    def check_timeouts(self) -> None:
        """Each job state must outlast what EMR Serverless allows a run: the application's queue timeout
        plus the run's execution timeout (else a healthy run that queued is cancelled as timed out)."""
        queue = self.processing.queue_timeout_minutes
        for name, spark in (("orchestration", self.orchestration.spark), ("refit", self.refit.spark)):
            allowed = queue + spark.job_timeout_minutes
            if spark.task_timeout_minutes < allowed:
                raise ConfigError(
                    f"{name}: a job state times out after {spark.task_timeout_minutes} min, before EMR "
                    f"Serverless would end the run ({queue} min in the queue + {spark.job_timeout_minutes} "
                    "min running)"
                )

    def shared_values(self) -> dict[str, dict[str, object]]:
        """Each value several constructs must agree on -> {props: its value there}.

        A prefix the job role grants must be the one the buckets' rules, the Lambda and the jobs use; the
        state machine the Lambda may inspect must be the one it starts; and so on.
        """
        s, a, p, c = self.storage, self.artifacts, self.processing, self.catalog
        o, r, i, n, app = self.orchestration, self.refit, self.ingest, self.answer, self.app_access
        return {
            "uploads_prefix": {
                "storage": s.uploads_prefix,
                "processing": p.uploads_prefix,
                "ingest": i.uploads_prefix,
                "answer": n.uploads_prefix,
                "app_access": app.uploads_prefix,
            },
            "curated_prefix": {"processing": p.curated_prefix, "ingest": i.curated_prefix},
            "staging_prefix": {"storage": s.staging_prefix, "app_access": app.staging_prefix},
            "manifests_prefix": {
                "storage": s.manifests_prefix,
                "processing": p.manifests_prefix,
                "ingest": i.manifests_prefix,
            },
            "emr_logs_prefix": {"storage": s.emr_logs_prefix, "processing": p.emr_logs_prefix},
            "answers_prefix": {
                "storage": s.answers_prefix,
                "processing": p.answers_prefix,
                "orchestration": o.answers_prefix,
                "answer": n.answers_prefix,
                "app_access": app.answers_prefix,
            },
            "features_prefix": {
                "catalog": c.features_prefix,
                "processing": p.features_prefix,
                "orchestration": o.features_prefix,
                "refit": r.features_prefix,
                "app_access": app.features_prefix,
            },
            "pca_models_prefix": {
                "processing": p.pca_models_prefix,
                "orchestration": o.pca_models_prefix,
                "refit": r.pca_models_prefix,
                "answer": n.pca_models_prefix,
            },
            "classifiers_prefix": {
                "processing": p.classifiers_prefix,
                "orchestration": o.classifiers_prefix,
                "refit": r.classifiers_prefix,
                "answer": n.classifiers_prefix,
                "app_access": app.classifiers_prefix,
            },
            "code_prefix": {"artifacts": a.code_prefix, "processing": p.code_prefix},
            "models_prefix": {"artifacts": a.models_prefix, "processing": p.models_prefix},
            "weights_key": {"artifacts": a.weights_key, "orchestration": o.weights_key},
            "code_archive_key": {"artifacts": a.code_archive_key, "spark jobs": o.spark.code_archive_key},
            "entry_point_key": {"artifacts": a.entry_point_key, "spark jobs": o.spark.entry_point_key},
            "glue database": {
                "catalog": c.database_name,
                "processing": p.glue_database,
                "orchestration": o.glue_database,
            },
            "feature state machine name": {
                "orchestration": o.state_machine_name,
                "ingest": i.state_machine_name,
            },
            "max_object_bytes": {
                "ingest": i.max_object_bytes,
                "orchestration": o.max_object_bytes,
                "answer": n.max_object_bytes,
                "app_access": app.max_object_bytes,
            },
            # The instant answer and the batch's must be the same numbers.
            "confidence_threshold": {
                "orchestration": o.confidence_threshold,
                "answer": n.confidence_threshold,
            },
            "emr_max_vcpu": {"processing": p.emr_max_vcpu, "spark jobs": o.spark.emr_max_vcpu},
            "emr_max_memory_gb": {"processing": p.emr_max_memory_gb, "spark jobs": o.spark.emr_max_memory_gb},
            "job_timeout_minutes": {
                "processing": p.job_timeout_minutes,
                "spark jobs": o.spark.job_timeout_minutes,
            },
            "spark job props": {"orchestration": o.spark, "refit": r.spark},
        }
