"""The app-level configuration: reads CDK context and assembles each construct's props from it.

Override any field with CDK context, e.g. ``npx cdk synth -c region=eu-west-1 -c upload_retention_days=3``
(or a ``"context"`` entry in ``cdk.json``). Values given on the command line arrive as strings and are
converted to the field's type (:mod:`cdk_app.context`); a key that is neither a field nor one of CDK's
own is refused with the closest field's name.

The settings' meaning, constraints and defaults live with the props of the construct that uses them
(``cdk_app/*_props.py``); :class:`PipelineConfig` only checks what spans the whole app (the EU-only region,
the name prefix) and passes each value, and the names derived from it, explicitly into every props object
that needs it (:meth:`PipelineConfig.props`). Constructs never see this object.

Physical names (queues, state machine, topic, ...) are derived from the name prefix and the region by
:meth:`PipelineConfig.names`, so that tools outside CDK (e.g. a local end-to-end test against a moto
server) can find the same resources without retyping them. Bucket names are left to CloudFormation:
the buckets outlive ``cdk destroy`` (RETAIN), and a fixed name would make the next deploy fail.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Protocol

from cdk_app import context, shared
from cdk_app.answer_props import AnswerProps
from cdk_app.app_access_props import AppAccessProps
from cdk_app.artifacts_props import ArtifactsProps
from cdk_app.catalog_props import CatalogProps
from cdk_app.erasure_props import ErasureProps
from cdk_app.images_props import ImageRepositoryProps
from cdk_app.ingest_props import IngestProps
from cdk_app.monitoring_props import AlertTopicProps, MonitoringProps
from cdk_app.orchestration_props import OrchestrationProps, RefitProps, SparkJobProps
from cdk_app.processing_props import ProcessingProps
from cdk_app.shared import DEFAULT_REGION, REPO_ROOT, STACK_NAME, ResourceNames, resource_names
from cdk_app.stack_props import PipelineProps
from cdk_app.storage_props import StorageProps
from cdk_app.validation import ConfigError

__all__ = [
    "DEFAULT_REGION",
    "EU_REGIONS",
    "REPO_ROOT",
    "STACK_NAME",
    "ConfigError",
    "PipelineConfig",
    "ResourceNames",
]

#: AWS regions located in a member state of the European Union (GDPR: data and compute in the EU).
#: London (eu-west-2) and Zurich (eu-central-2) are deliberately absent: not in the EU.
EU_REGIONS: tuple[str, ...] = (
    "eu-central-1",  # Frankfurt
    "eu-north-1",  # Stockholm
    "eu-south-1",  # Milan
    "eu-south-2",  # Spain
    "eu-west-1",  # Ireland
    "eu-west-3",  # Paris
)

_NAME_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,14}[a-z0-9]$")


class _ContextSource(Protocol):
    """Anything with ``node.get_all_context`` (an App, a Stack, ...)."""

    @property
    def node(self) -> Any: ...


@dataclass(frozen=True)
class PipelineConfig:
    """Every ``-c`` setting of the app, with production defaults (each documented in its props class)."""

    # Where and under which names.
    region: str = DEFAULT_REGION
    name_prefix: str = shared.DEFAULT_NAME_PREFIX

    # Key prefixes (all end with "/"). Uploads and manifests are shared with the ingest Lambda.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: The data team's labelled datasets (``curated/<Class>/<file>``) and the app's staged photos.
    curated_prefix: str = shared.CURATED_PREFIX
    staging_prefix: str = shared.STAGING_PREFIX
    manifests_prefix: str = shared.MANIFESTS_PREFIX
    models_prefix: str = shared.MODELS_PREFIX
    pca_models_prefix: str = shared.PCA_MODELS_PREFIX
    code_prefix: str = shared.CODE_PREFIX
    emr_logs_prefix: str = shared.EMR_LOGS_PREFIX
    #: Root of the feature store in the results bucket (Spark writes features/ and errors/ under it).
    features_prefix: str = shared.FEATURES_PREFIX
    #: Classifier versions (artifacts bucket) and one JSON answer per upload (results bucket).
    classifiers_prefix: str = shared.CLASSIFIERS_PREFIX
    answers_prefix: str = shared.ANSWERS_PREFIX

    # Retention (GDPR: keep raw uploads briefly).
    upload_retention_days: int = StorageProps.upload_retention_days
    staging_retention_days: int = StorageProps.staging_retention_days
    #: Answers name the upload's key and its predicted fruit: kept as briefly as the app needs them.
    answer_retention_days: int = StorageProps.answer_retention_days
    manifest_retention_days: int = StorageProps.manifest_retention_days
    log_retention_days: int = shared.LOG_RETENTION_DAYS
    access_log_retention_days: int = StorageProps.access_log_retention_days
    noncurrent_version_retention_days: int = StorageProps.noncurrent_version_retention_days
    abort_multipart_days: int = StorageProps.abort_multipart_days

    # EMR Serverless.
    emr_release_label: str = ProcessingProps.emr_release_label
    emr_max_vcpu: int = shared.EMR_MAX_VCPU
    emr_max_memory_gb: int = shared.EMR_MAX_MEMORY_GB
    emr_max_disk_gb: int = ProcessingProps.emr_max_disk_gb
    emr_idle_timeout_minutes: int = ProcessingProps.emr_idle_timeout_minutes
    emr_max_concurrent_runs: int = ProcessingProps.emr_max_concurrent_runs
    job_timeout_minutes: int = shared.JOB_TIMEOUT_MINUTES
    #: Worker sizes, start and retries of the Spark jobs: see SparkJobProps (cdk_app/orchestration_props.py).
    executor_cores: int = SparkJobProps.executor_cores
    executor_memory_gb: int = SparkJobProps.executor_memory_gb
    executor_memory_overhead_gb: int = SparkJobProps.executor_memory_overhead_gb
    driver_cores: int = SparkJobProps.driver_cores
    driver_memory_gb: int = SparkJobProps.driver_memory_gb
    driver_memory_overhead_gb: int = SparkJobProps.driver_memory_overhead_gb
    refit_driver_cores: int = SparkJobProps.refit_driver_cores
    refit_driver_memory_gb: int = SparkJobProps.refit_driver_memory_gb
    refit_driver_memory_overhead_gb: int = SparkJobProps.refit_driver_memory_overhead_gb
    initial_executors: int = SparkJobProps.initial_executors
    job_failure_retries: int = SparkJobProps.job_failure_retries

    # PCA basis and classifier lifecycle (the refit workflow): see RefitProps and OrchestrationProps.
    refit_schedule: str = RefitProps.refit_schedule
    pca_min_images: int = RefitProps.pca_min_images
    classifier_min_per_class: int = RefitProps.classifier_min_per_class
    confidence_threshold: float = OrchestrationProps.confidence_threshold
    refit_trains_classifier: bool = RefitProps.refit_trains_classifier

    # Upload trigger: see IngestProps (cdk_app/ingest_props.py).
    batch_window_seconds: int = IngestProps.batch_window_seconds
    batch_size: int = IngestProps.batch_size
    ingest_max_concurrency: int = IngestProps.ingest_max_concurrency
    ingest_timeout_seconds: int = IngestProps.ingest_timeout_seconds
    max_object_bytes: int = shared.MAX_OBJECT_BYTES
    dlq_max_receive_count: int = IngestProps.dlq_max_receive_count
    powertools_layer_version: int = IngestProps.powertools_layer_version
    powertools_log_level: str = IngestProps.powertools_log_level

    # The instant answer (one Lambda invocation per upload): see AnswerProps (cdk_app/answer_props.py).
    answer_memory_mb: int = AnswerProps.answer_memory_mb
    answer_architecture: str = AnswerProps.answer_architecture
    answer_timeout_seconds: int = AnswerProps.answer_timeout_seconds
    answer_max_concurrency: int = AnswerProps.answer_max_concurrency
    answer_models_ttl_seconds: int = AnswerProps.answer_models_ttl_seconds
    answer_delivery_retries: int = AnswerProps.answer_delivery_retries
    answer_invoke_retries: int = AnswerProps.answer_invoke_retries
    answer_max_event_age_seconds: int = AnswerProps.answer_max_event_age_seconds
    # The app's door: see AppAccessProps (cdk_app/app_access_props.py).
    upload_grant_seconds: int = AppAccessProps.upload_grant_seconds
    uploads_per_identity: int = AppAccessProps.uploads_per_identity
    quota_window_seconds: int = AppAccessProps.quota_window_seconds
    app_api_rate_limit: int = AppAccessProps.app_api_rate_limit
    app_api_burst_limit: int = AppAccessProps.app_api_burst_limit
    app_api_timeout_seconds: int = AppAccessProps.app_api_timeout_seconds

    # Monitoring and cost.
    budget_monthly_usd: float = MonitoringProps.budget_monthly_usd
    alert_email: str = shared.ALERT_EMAIL

    # CDK bootstrap qualifier (``cdk bootstrap --qualifier``): names the image-publishing role.
    bootstrap_qualifier: str = ImageRepositoryProps.bootstrap_qualifier
    #: Images kept in the stack's ECR repository (older ones expire).
    image_retention_count: int = ImageRepositoryProps.image_retention_count

    # Artifacts shipped with the stack.
    weights_file: str = ArtifactsProps.weights_file
    python_path: str = SparkJobProps.python_path

    def __post_init__(self) -> None:
        if self.region not in EU_REGIONS:
            raise ConfigError(
                f"region {self.region!r} is not an EU region: data and compute must stay in the EU "
                f"(GDPR). Choose one of {', '.join(EU_REGIONS)} (default {DEFAULT_REGION})."
            )
        if not _NAME_PREFIX_RE.match(self.name_prefix):
            raise ConfigError(
                f"name_prefix {self.name_prefix!r} must be 3-16 characters of a-z, 0-9 and '-', "
                "starting with a letter (it becomes part of S3 bucket names)"
            )
        self.props()
        self.image_props()

    # -- reading -------------------------------------------------------------------------------

    @classmethod
    def from_context(cls, scope: _ContextSource) -> PipelineConfig:
        """Defaults overridden by the CDK context keys named like a field (strings are converted).

        Raises ConfigError for a context key that is neither a field nor one of CDK's own keys.
        """
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        return cls(**context.overrides(scope.node.get_all_context(), defaults))

    # -- derived values ------------------------------------------------------------------------

    def names(self) -> ResourceNames:
        """Physical names of the resources the stack deletes with itself (buckets are generated)."""
        return resource_names(self.name_prefix, self.region)

    def props(self) -> PipelineProps:
        """The pipeline stack's props: every construct's, from this configuration (validates them all)."""
        # Processing first: its capacity checks explain a too-small cap before the job sizing does.
        processing = self.processing_props()
        return PipelineProps(
            project_tag=self.name_prefix,
            storage=self.storage_props(),
            artifacts=self.artifacts_props(),
            alerts=self.alert_topic_props(),
            processing=processing,
            catalog=self.catalog_props(),
            orchestration=self.orchestration_props(),
            refit=self.refit_props(),
            ingest=self.ingest_props(),
            monitoring=self.monitoring_props(),
            answer=self.answer_props(),
            app_access=self.app_access_props(),
            erasure=self.erasure_props(),
        )

    def storage_props(self) -> StorageProps:
        """Props of the Storage construct."""
        return StorageProps(
            uploads_prefix=self.uploads_prefix,
            staging_prefix=self.staging_prefix,
            manifests_prefix=self.manifests_prefix,
            emr_logs_prefix=self.emr_logs_prefix,
            answers_prefix=self.answers_prefix,
            upload_retention_days=self.upload_retention_days,
            staging_retention_days=self.staging_retention_days,
            answer_retention_days=self.answer_retention_days,
            manifest_retention_days=self.manifest_retention_days,
            log_retention_days=self.log_retention_days,
            access_log_retention_days=self.access_log_retention_days,
            noncurrent_version_retention_days=self.noncurrent_version_retention_days,
            abort_multipart_days=self.abort_multipart_days,
        )

    def artifacts_props(self) -> ArtifactsProps:
        """Props of the Artifacts construct."""
        return ArtifactsProps(
            code_prefix=self.code_prefix, models_prefix=self.models_prefix, weights_file=self.weights_file
        )

    def processing_props(self) -> ProcessingProps:
        """Props of the Processing construct."""
        names = self.names()
        return ProcessingProps(
            application_name=names.emr_application,
            emr_release_label=self.emr_release_label,
            emr_max_vcpu=self.emr_max_vcpu,
            emr_max_memory_gb=self.emr_max_memory_gb,
            emr_max_disk_gb=self.emr_max_disk_gb,
            emr_idle_timeout_minutes=self.emr_idle_timeout_minutes,
            emr_max_concurrent_runs=self.emr_max_concurrent_runs,
            job_timeout_minutes=self.job_timeout_minutes,
            glue_database=names.glue_database,
            uploads_prefix=self.uploads_prefix,
            curated_prefix=self.curated_prefix,
            code_prefix=self.code_prefix,
            models_prefix=self.models_prefix,
            manifests_prefix=self.manifests_prefix,
            pca_models_prefix=self.pca_models_prefix,
            emr_logs_prefix=self.emr_logs_prefix,
            features_prefix=self.features_prefix,
            classifiers_prefix=self.classifiers_prefix,
            answers_prefix=self.answers_prefix,
        )

    def spark_job_props(self) -> SparkJobProps:
        """How the Spark jobs of both state machines run (shared by their props)."""
        artifacts = self.artifacts_props()
        return SparkJobProps(
            code_archive_key=artifacts.code_archive_key,
            entry_point_key=artifacts.entry_point_key,
            python_path=self.python_path,
            executor_cores=self.executor_cores,
            executor_memory_gb=self.executor_memory_gb,
            executor_memory_overhead_gb=self.executor_memory_overhead_gb,
            driver_cores=self.driver_cores,
            driver_memory_gb=self.driver_memory_gb,
            driver_memory_overhead_gb=self.driver_memory_overhead_gb,
            refit_driver_cores=self.refit_driver_cores,
            refit_driver_memory_gb=self.refit_driver_memory_gb,
            refit_driver_memory_overhead_gb=self.refit_driver_memory_overhead_gb,
            initial_executors=self.initial_executors,
            emr_max_vcpu=self.emr_max_vcpu,
            emr_max_memory_gb=self.emr_max_memory_gb,
            job_timeout_minutes=self.job_timeout_minutes,
            job_failure_retries=self.job_failure_retries,
            log_retention_days=self.log_retention_days,
        )

    def orchestration_props(self) -> OrchestrationProps:
        """Props of the Orchestration construct (the feature pipeline)."""
        names = self.names()
        return OrchestrationProps(
            state_machine_name=names.state_machine,
            spark=self.spark_job_props(),
            weights_key=self.weights_key,
            features_prefix=self.features_prefix,
            pca_models_prefix=self.pca_models_prefix,
            classifiers_prefix=self.classifiers_prefix,
            answers_prefix=self.answers_prefix,
            glue_database=names.glue_database,
            max_object_bytes=self.max_object_bytes,
            confidence_threshold=self.confidence_threshold,
        )

    def erasure_props(self) -> ErasureProps:
        """Props of the Erasure construct."""
        names = self.names()
        return ErasureProps(
            state_machine_name=names.erasure_state_machine,
            spark=self.spark_job_props(),
            features_prefix=self.features_prefix,
            answers_prefix=self.answers_prefix,
            manifests_prefix=self.manifests_prefix,
            uploads_prefix=self.uploads_prefix,
            staging_prefix=self.staging_prefix,
            emr_logs_prefix=self.emr_logs_prefix,
            glue_database=names.glue_database,
        )

    def refit_props(self) -> RefitProps:
        """Props of the Refit construct."""
        names = self.names()
        return RefitProps(
            state_machine_name=names.refit_state_machine,
            schedule_name=names.refit_schedule,
            refit_schedule=self.refit_schedule,
            spark=self.spark_job_props(),
            features_prefix=self.features_prefix,
            pca_models_prefix=self.pca_models_prefix,
            classifiers_prefix=self.classifiers_prefix,
            pca_min_images=self.pca_min_images,
            classifier_min_per_class=self.classifier_min_per_class,
            refit_trains_classifier=self.refit_trains_classifier,
        )

    def ingest_props(self) -> IngestProps:
        """Props of the Ingest construct."""
        names = self.names()
        return IngestProps(
            queue_name=names.upload_queue,
            dead_letter_queue_name=names.upload_dlq,
            function_name=names.ingest_function,
            state_machine_name=names.state_machine,
            uploads_prefix=self.uploads_prefix,
            curated_prefix=self.curated_prefix,
            manifests_prefix=self.manifests_prefix,
            max_object_bytes=self.max_object_bytes,
            batch_window_seconds=self.batch_window_seconds,
            batch_size=self.batch_size,
            ingest_max_concurrency=self.ingest_max_concurrency,
            ingest_timeout_seconds=self.ingest_timeout_seconds,
            dlq_max_receive_count=self.dlq_max_receive_count,
            powertools_layer_version=self.powertools_layer_version,
            powertools_log_level=self.powertools_log_level,
            log_retention_days=self.log_retention_days,
        )

    def answer_props(self) -> AnswerProps:
        """Props of the Answer construct."""
        names = self.names()
        return AnswerProps(
            function_name=names.answer_function,
            rule_name=names.answer_rule,
            dead_letter_queue_name=names.answer_dlq,
            uploads_prefix=self.uploads_prefix,
            answers_prefix=self.answers_prefix,
            pca_models_prefix=self.pca_models_prefix,
            classifiers_prefix=self.classifiers_prefix,
            max_object_bytes=self.max_object_bytes,
            confidence_threshold=self.confidence_threshold,
            answer_memory_mb=self.answer_memory_mb,
            answer_architecture=self.answer_architecture,
            answer_timeout_seconds=self.answer_timeout_seconds,
            answer_max_concurrency=self.answer_max_concurrency,
            answer_models_ttl_seconds=self.answer_models_ttl_seconds,
            answer_delivery_retries=self.answer_delivery_retries,
            answer_invoke_retries=self.answer_invoke_retries,
            answer_max_event_age_seconds=self.answer_max_event_age_seconds,
            powertools_log_level=self.powertools_log_level,
            log_retention_days=self.log_retention_days,
        )

    def app_access_props(self) -> AppAccessProps:
        """Props of the AppAccess construct."""
        names = self.names()
        return AppAccessProps(
            identity_pool_name=names.identity_pool,
            api_name=names.app_api,
            function_name=names.app_api_function,
            identity_table_name=names.identity_table,
            uploads_prefix=self.uploads_prefix,
            staging_prefix=self.staging_prefix,
            answers_prefix=self.answers_prefix,
            features_prefix=self.features_prefix,
            classifiers_prefix=self.classifiers_prefix,
            max_object_bytes=self.max_object_bytes,
            upload_grant_seconds=self.upload_grant_seconds,
            uploads_per_identity=self.uploads_per_identity,
            quota_window_seconds=self.quota_window_seconds,
            app_api_rate_limit=self.app_api_rate_limit,
            app_api_burst_limit=self.app_api_burst_limit,
            app_api_timeout_seconds=self.app_api_timeout_seconds,
            powertools_layer_version=self.powertools_layer_version,
            powertools_log_level=self.powertools_log_level,
            log_retention_days=self.log_retention_days,
        )

    def alert_topic_props(self) -> AlertTopicProps:
        """Props of the AlertTopic construct."""
        return AlertTopicProps(topic_name=self.names().alerts_topic, alert_email=self.alert_email)

    def monitoring_props(self) -> MonitoringProps:
        """Props of the Monitoring construct."""
        return MonitoringProps(
            alarm_prefix=self.name_prefix,
            budget_name=self.names().budget,
            budget_monthly_usd=self.budget_monthly_usd,
            alert_email=self.alert_email,
        )

    def catalog_props(self) -> CatalogProps:
        """Props of the Catalog construct."""
        return CatalogProps(database_name=self.names().glue_database, features_prefix=self.features_prefix)

    def image_props(self) -> ImageRepositoryProps:
        """Props of the ImageRepositoryStack."""
        return ImageRepositoryProps(
            repository_name=self.names().image_repository,
            image_retention_count=self.image_retention_count,
            bootstrap_qualifier=self.bootstrap_qualifier,
            lambda_functions=(self.names().answer_function,),
        )

    def image_publishing_role_arn(self, account: str) -> str:
        """The CDK bootstrap role that pushes Docker image assets into this region's repository."""
        return self.image_props().publishing_role_arn(account, self.region)

    @property
    def weights_key(self) -> str:
        """Artifacts-bucket key of the pinned MobileNetV2 weights."""
        return self.artifacts_props().weights_key
