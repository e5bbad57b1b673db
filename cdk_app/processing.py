"""Processing: the EMR Serverless Spark application, its custom image and the job runtime role."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app._util import acknowledge, list_under, nag_ref
from cdk_app.catalog import glue_arns
from cdk_app.images import EMR_SERVICE, emr_applications_arn
from cdk_app.processing_props import ProcessingProps
from cdk_app.shared import REPO_ROOT
from spark_app.core import schema

DOCKERFILE_DIR = REPO_ROOT / "docker"
DOCKERFILE = "emr-serverless.Dockerfile"
#: The image's platform: the application's architecture (X86_64), and a single platform.
IMAGE_PLATFORM = ecr_assets.Platform.LINUX_AMD64
#: ``docker build --output``: one image with Docker v2 media types (application/vnd.docker.distribution.
#: manifest.v2+json), never an OCI index. BuildKit's default provenance attestation (off in the pinned
#: CDK CLI, which builds with BUILDX_NO_DEFAULT_ATTESTATIONS=1) or a containerd image store would push an
#: index; Lambda refuses those (aws-cdk issue 31548) and EMR Serverless documents no support for them.
IMAGE_OUTPUTS = ("type=image,oci-mediatypes=false",)
#: Object actions of a prefix the job both reads and replaces (Parquet partitions, PCA versions).
READ_WRITE_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
#: Suffix of the empty marker objects EMRFS writes for directories (EMR Management Guide, EMRFS).
FOLDER_MARKER = "_$folder$"


def emrfs_keys(prefix: str) -> list[str]:
    """Key patterns EMRFS touches for a directory prefix ``a/b/``: its contents, itself and its marker."""
    directory = prefix.rstrip("/")
    return [f"{prefix}*", directory, f"{directory}{FOLDER_MARKER}"]


class Processing(Construct):
    """EMR Serverless application (auto start/stop, capped, no pre-initialized capacity) and job role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: ProcessingProps,
        *,
        ingestion: s3.IBucket,
        results: s3.IBucket,
        artifacts: s3.IBucket,
    ):
        super().__init__(scope, construct_id)

        # Built by `cdk deploy` (Docker needed then only) and pushed to the stack-owned repository of
        # ImageRepositoryStack (the synthesizer's image_assets_repository_name, see cdk_app/app.py).
        self.image = ecr_assets.DockerImageAsset(
            self,
            "SparkImage",
            directory=str(DOCKERFILE_DIR),
            file=DOCKERFILE,
            # Its context is its Dockerfile alone: other images' Dockerfiles beside it never rebuild it.
            exclude=["*", f"!{DOCKERFILE}"],
            platform=IMAGE_PLATFORM,
            outputs=list(IMAGE_OUTPUTS),
        )

        self.application = emr.CfnApplication(
            self,
            "Application",
            name=props.application_name,
            release_label=props.emr_release_label,
            type="Spark",
            architecture="X86_64",
            auto_start_configuration=emr.CfnApplication.AutoStartConfigurationProperty(enabled=True),
            auto_stop_configuration=emr.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=props.emr_idle_timeout_minutes
            ),
            maximum_capacity=emr.CfnApplication.MaximumAllowedResourcesProperty(
                cpu=f"{props.emr_max_vcpu} vCPU",
                memory=f"{props.emr_max_memory_gb} GB",
                disk=f"{props.emr_max_disk_gb} GB",
            ),
            # No initial_capacity: pre-initialized workers bill while the application is started.
            image_configuration=emr.CfnApplication.ImageConfigurationInputProperty(
                image_uri=self.image.image_uri
            ),
            monitoring_configuration=emr.CfnApplication.MonitoringConfigurationProperty(
                s3_monitoring_configuration=emr.CfnApplication.S3MonitoringConfigurationProperty(
                    log_uri=artifacts.s3_url_for_object(props.emr_logs_prefix)
                ),
                # Spark UI logs kept by the service for 30 days: off, our own S3 logs expire sooner.
                managed_persistence_monitoring_configuration=(
                    emr.CfnApplication.ManagedPersistenceMonitoringConfigurationProperty(enabled=False)
                ),
            ),
            scheduler_configuration=emr.CfnApplication.SchedulerConfigurationProperty(
                max_concurrent_runs=props.emr_max_concurrent_runs,
                queue_timeout_minutes=props.queue_timeout_minutes,
            ),
        )

        self.application_id: str = self.application.attr_application_id
        self.application_arn: str = self.application.attr_arn
        self.job_role = self._job_role(props, ingestion=ingestion, results=results, artifacts=artifacts)

    def _job_role(
        self, props: ProcessingProps, *, ingestion: s3.IBucket, results: s3.IBucket, artifacts: s3.IBucket
    ) -> iam.Role:
        """Least-privilege S3 access of the Spark job, prefix by prefix."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "JobRole",
            description="Runtime role of the Fruits! Spark job on EMR Serverless",
            assumed_by=iam.ServicePrincipal(
                EMR_SERVICE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": emr_applications_arn(stack.region, stack.account)},
                },
            ),
        )

        def objects(bucket: s3.IBucket, *prefixes: str) -> list[str]:
            return [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]

        def hadoop_tree(bucket: s3.IBucket, prefix: str) -> list[str]:
            """Objects under ``prefix`` plus the keys EMRFS uses for the prefix as a directory."""
            return [bucket.arn_for_objects(key) for key in emrfs_keys(prefix)]

        statements = [
            # App uploads and the data team's curated (labelled) data; never the app's staged photos.
            iam.PolicyStatement(
                sid="ReadUploads",
                actions=["s3:GetObject"],
                resources=objects(ingestion, props.uploads_prefix, props.curated_prefix),
            ),
            # The job lists uploads only for an s3:// --input (ListObjectsV2 always sends the prefix).
            list_under("ListUploads", ingestion, [f"{props.uploads_prefix}*", f"{props.curated_prefix}*"]),
            iam.PolicyStatement(
                sid="ReadCodeModelsManifests",
                actions=["s3:GetObject"],
                resources=objects(artifacts, props.code_prefix, props.models_prefix, props.manifests_prefix),
            ),
            iam.PolicyStatement(
                sid="ReadWritePcaModels",
                actions=[*READ_WRITE_OBJECT_ACTIONS],
                resources=hadoop_tree(artifacts, props.pca_models_prefix),
            ),
            iam.PolicyStatement(
                sid="WriteJobLogs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=objects(artifacts, props.emr_logs_prefix),
            ),
            iam.PolicyStatement(
                sid="ReadWriteFeatureStore",
                actions=[*READ_WRITE_OBJECT_ACTIONS],
                resources=hadoop_tree(results, props.features_prefix),
            ),
            iam.PolicyStatement(
                sid="ReadWriteClassifiers",
                actions=[*READ_WRITE_OBJECT_ACTIONS],
                resources=hadoop_tree(artifacts, props.classifiers_prefix),
            ),
            # One JSON answer per upload, written with boto3 (never read back by the job).
            iam.PolicyStatement(
                sid="WriteAnswers",
                actions=["s3:PutObject"],
                resources=objects(results, props.answers_prefix),
            ),
            # Each batch registers its partition in the catalog's two tables (spark_app/catalog.py).
            iam.PolicyStatement(
                sid="RegisterBatchPartitions",
                actions=[
                    "glue:GetTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:CreatePartition",
                    "glue:BatchCreatePartition",
                ],
                resources=glue_arns(stack, props.glue_database, list(schema.DATASETS)),
            ),
            # HeadBucket (the job's output check, EMRFS bucket probes) is authorized as s3:ListBucket with
            # no s3:prefix, so a prefix condition would refuse it: the job's own two buckets are listable
            # whole (they hold nothing the job may not read: see docs/deploy.md).
            iam.PolicyStatement(
                sid="ListOwnBuckets",
                actions=["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[results.bucket_arn, artifacts.bucket_arn],
            ),
        ]
        policy = iam.Policy(self, "JobPolicy", statements=statements)
        role.attach_inline_policy(policy)

        acknowledge(
            policy,
            {
                f"AwsSolutions-IAM5[Resource::{nag_ref(stack, bucket.bucket_arn)}/{prefix}*]": (
                    "Object-level access is scoped to the one key prefix the job uses "
                    f"({prefix}); object keys are not known in advance."
                )
                for bucket, prefix in [
                    (ingestion, props.uploads_prefix),
                    (ingestion, props.curated_prefix),
                    (artifacts, props.code_prefix),
                    (artifacts, props.models_prefix),
                    (artifacts, props.manifests_prefix),
                    (artifacts, props.pca_models_prefix),
                    (artifacts, props.emr_logs_prefix),
                    (results, props.features_prefix),
                    (artifacts, props.classifiers_prefix),
                    (results, props.answers_prefix),
                ]
            },
        )
        return role
