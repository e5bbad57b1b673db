"""The pipeline stack: the constructs wired together, each given its own props and the resources it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from cdk_app.answer import Answer
from cdk_app.app_access import AppAccess
from cdk_app.artifacts import Artifacts
from cdk_app.catalog import Catalog
from cdk_app.erasure import Erasure
from cdk_app.ingest import Ingest
from cdk_app.monitoring import AlertTopic, Monitoring
from cdk_app.orchestration import JobResources, Orchestration, Refit
from cdk_app.processing import Processing
from cdk_app.stack_props import PipelineProps
from cdk_app.storage import Storage

if TYPE_CHECKING:
    from cdk_app.config import PipelineConfig


class PipelineStack(Stack):
    """Uploads -> SQS -> ingest Lambda -> Step Functions -> EMR Serverless -> Parquet, in one EU region."""

    def __init__(self, scope: Construct, construct_id: str, props: PipelineProps, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.props = props
        #: The image-repository stack this one depends on (set by cdk_app.app.build_app).
        self.images: Stack | None = None
        #: The app-level configuration the props were assembled from (set by cdk_app.app.build_app;
        #: read by tools such as the local end-to-end test). The constructs never see it.
        self.config: PipelineConfig | None = None
        Tags.of(self).add("project", props.project_tag)

        self.storage = Storage(self, "Storage", props.storage)
        self.artifacts = Artifacts(self, "Artifacts", props.artifacts, bucket=self.storage.artifacts)
        self.alerts = AlertTopic(self, "Alerts", props.alerts)
        self.processing = Processing(
            self,
            "Processing",
            props.processing,
            ingestion=self.storage.ingestion,
            results=self.storage.results,
            artifacts=self.storage.artifacts,
        )
        self.catalog = Catalog(self, "Catalog", props.catalog, results=self.storage.results)
        jobs = JobResources(
            application_id=self.processing.application_id,
            application_arn=self.processing.application_arn,
            job_role=self.processing.job_role,
            results=self.storage.results,
            artifacts=self.storage.artifacts,
            alerts=self.alerts.topic,
        )
        self.orchestration = Orchestration(self, "Orchestration", props.orchestration, resources=jobs)
        self.refit = Refit(self, "Refit", props.refit, resources=jobs)
        self.ingest = Ingest(
            self,
            "Ingest",
            props.ingest,
            ingestion=self.storage.ingestion,
            artifacts=self.storage.artifacts,
            state_machine=self.orchestration.state_machine,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            props.monitoring,
            topic=self.alerts.topic,
            dead_letter_queue=self.ingest.dead_letter_queue,
            state_machine=self.orchestration.state_machine,
            refit_state_machine=self.refit.state_machine,
            ingest_function=self.ingest.function,
        )

        self.answer = Answer(
            self,
            "Answer",
            props.answer,
            ingestion=self.storage.ingestion,
            results=self.storage.results,
            artifacts=self.storage.artifacts,
            alerts=self.alerts.topic,
        )
        self.app_access = AppAccess(
            self,
            "AppAccess",
            props.app_access,
            ingestion=self.storage.ingestion,
            results=self.storage.results,
            artifacts=self.storage.artifacts,
        )
        self.erasure = Erasure(
            self,
            "Erasure",
            props.erasure,
            resources=jobs,
            ingestion=self.storage.ingestion,
            identity_table=self.app_access.identity_table,
        )
        self.erasure.let_start(self.app_access.function)
        self.erasure.let_check_tombstones(self.answer.function)

        outputs = {
            "IngestionBucket": self.storage.ingestion.bucket_name,
            "UploadsPrefix": props.storage.uploads_prefix,
            "ResultsBucket": self.storage.results.bucket_name,
            "ArtifactsBucket": self.storage.artifacts.bucket_name,
            "StateMachineArn": self.orchestration.state_machine.state_machine_arn,
            "RefitStateMachineArn": self.refit.state_machine.state_machine_arn,
            "ErasureStateMachineArn": self.erasure.state_machine.state_machine_arn,
            "GlueDatabase": self.catalog.database_name,
            "EmrApplicationId": self.processing.application_id,
            "AlertTopicArn": self.alerts.topic.topic_arn,
            "AccessLogsBucket": self.storage.access_logs.bucket_name,
            "AnswerFunctionName": self.answer.function.function_name,
            # What an app build needs: the identity pool and the API (docs/deploy.md, docs/app-api.md).
            "IdentityPoolId": self.app_access.identity_pool_id,
            "AppApiUrl": self.app_access.stage.url,
            "CuratedPrefix": props.ingest.curated_prefix,
        }
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)

    def image_tags(self) -> tuple[str, ...]:
        """The tags of the images this stack runs (the Spark image, the answer Lambda's) in its repository."""
        return (self.processing.image.image_tag, self.answer.image.image_tag)
