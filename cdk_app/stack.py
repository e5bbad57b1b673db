"""The pipeline stack: the six constructs wired together."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from cdk_app.artifacts import Artifacts
from cdk_app.catalog import Catalog
from cdk_app.config import PipelineConfig
from cdk_app.ingest import Ingest
from cdk_app.monitoring import AlertTopic, Monitoring
from cdk_app.orchestration import JobResources, Orchestration, Refit
from cdk_app.processing import Processing
from cdk_app.storage import Storage


class PipelineStack(Stack):
    """Uploads -> SQS -> ingest Lambda -> Step Functions -> EMR Serverless -> Parquet, in one EU region."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        #: The image-repository stack this one depends on (set by cdk_app.app.build_app).
        self.images: Stack | None = None
        Tags.of(self).add("project", config.name_prefix)

        self.storage = Storage(self, "Storage", config.storage_props())
        self.artifacts = Artifacts(self, "Artifacts", config.artifacts_props(), bucket=self.storage.artifacts)
        self.alerts = AlertTopic(self, "Alerts", config.alert_topic_props())
        self.processing = Processing(
            self,
            "Processing",
            config.processing_props(),
            ingestion=self.storage.ingestion,
            results=self.storage.results,
            artifacts=self.storage.artifacts,
        )
        self.catalog = Catalog(self, "Catalog", config.catalog_props(), results=self.storage.results)
        jobs = JobResources(
            application_id=self.processing.application_id,
            application_arn=self.processing.application_arn,
            job_role=self.processing.job_role,
            results=self.storage.results,
            artifacts=self.storage.artifacts,
            alerts=self.alerts.topic,
        )
        self.orchestration = Orchestration(
            self, "Orchestration", config.orchestration_props(), resources=jobs
        )
        self.refit = Refit(self, "Refit", config.refit_props(), resources=jobs)
        self.ingest = Ingest(
            self,
            "Ingest",
            config.ingest_props(),
            ingestion=self.storage.ingestion,
            artifacts=self.storage.artifacts,
            state_machine=self.orchestration.state_machine,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config.monitoring_props(),
            topic=self.alerts.topic,
            dead_letter_queue=self.ingest.dead_letter_queue,
            state_machine=self.orchestration.state_machine,
            refit_state_machine=self.refit.state_machine,
            ingest_function=self.ingest.function,
        )

        outputs = {
            "IngestionBucket": self.storage.ingestion.bucket_name,
            "UploadsPrefix": config.uploads_prefix,
            "ResultsBucket": self.storage.results.bucket_name,
            "ArtifactsBucket": self.storage.artifacts.bucket_name,
            "StateMachineArn": self.orchestration.state_machine.state_machine_arn,
            "RefitStateMachineArn": self.refit.state_machine.state_machine_arn,
            "GlueDatabase": self.catalog.database_name,
            "EmrApplicationId": self.processing.application_id,
            "AlertTopicArn": self.alerts.topic.topic_arn,
            "AccessLogsBucket": self.storage.access_logs.bucket_name,
        }
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)
