"""Processing: the EMR Serverless Spark application, its custom image and the job runtime role."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_emrserverless as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app._util import BASIC_EXECUTION_ROLE, acknowledge, nag_ref, stack_singletons
from cdk_app.config import REPO_ROOT, PipelineConfig

EMR_SERVICE = "emr-serverless.amazonaws.com"
DOCKERFILE_DIR = REPO_ROOT / "docker"
DOCKERFILE = "emr-serverless.Dockerfile"
#: What EMR Serverless needs on the image repository (same account and region).
#: Construct id of CDK's AwsCustomResource provider Lambda (a stack singleton).
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
ECR_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]


def emr_applications_arn(region: str, account: str) -> str:
    """ARN pattern of the account's EMR Serverless applications (confused-deputy conditions)."""
    return f"arn:aws:emr-serverless:{region}:{account}:/applications/*"


class Processing(Construct):
    """EMR Serverless application (auto start/stop, capped, no pre-initialized capacity) and job role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        application_name: str,
        ingestion: s3.IBucket,
        results: s3.IBucket,
        artifacts: s3.IBucket,
    ):
        super().__init__(scope, construct_id)

        # Built and pushed to the CDK bootstrap repository by `cdk deploy` (Docker needed then only).
        self.image = ecr_assets.DockerImageAsset(
            self,
            "SparkImage",
            directory=str(DOCKERFILE_DIR),
            file=DOCKERFILE,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        self.image_pull_policy = self._allow_emr_serverless_to_pull(self.image.repository)

        self.application = emr.CfnApplication(
            self,
            "Application",
            name=application_name,
            release_label=config.emr_release_label,
            type="Spark",
            architecture="X86_64",
            auto_start_configuration=emr.CfnApplication.AutoStartConfigurationProperty(enabled=True),
            auto_stop_configuration=emr.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=config.emr_idle_timeout_minutes
            ),
            maximum_capacity=emr.CfnApplication.MaximumAllowedResourcesProperty(
                cpu=f"{config.emr_max_vcpu} vCPU",
                memory=f"{config.emr_max_memory_gb} GB",
                disk=f"{config.emr_max_disk_gb} GB",
            ),
            # No initial_capacity: pre-initialized workers bill while the application is started.
            image_configuration=emr.CfnApplication.ImageConfigurationInputProperty(
                image_uri=self.image.image_uri
            ),
            monitoring_configuration=emr.CfnApplication.MonitoringConfigurationProperty(
                s3_monitoring_configuration=emr.CfnApplication.S3MonitoringConfigurationProperty(
                    log_uri=artifacts.s3_url_for_object(config.emr_logs_prefix)
                ),
                # Spark UI logs kept by the service for 30 days: off, our own S3 logs expire sooner.
                managed_persistence_monitoring_configuration=(
                    emr.CfnApplication.ManagedPersistenceMonitoringConfigurationProperty(enabled=False)
                ),
            ),
            scheduler_configuration=emr.CfnApplication.SchedulerConfigurationProperty(
                max_concurrent_runs=config.emr_max_concurrent_runs,
                queue_timeout_minutes=max(15, min(720, config.job_timeout_minutes)),
            ),
        )
        # EMR Serverless checks that it can pull the image when the application is created.
        self.application.node.add_dependency(self.image_pull_policy)

        self.application_id: str = self.application.attr_application_id
        self.application_arn: str = self.application.attr_arn
        self.job_role = self._job_role(config, ingestion=ingestion, results=results, artifacts=artifacts)

    def _allow_emr_serverless_to_pull(self, repository: object) -> cr.AwsCustomResource:
        """Repository policy letting EMR Serverless (this account) pull the image.

        The image lives in the CDK bootstrap repository, whose policy CloudFormation cannot extend from
        this stack; ECR replaces a repository policy as a whole, so the bootstrap's own Lambda
        statement is restated, and restored alone when the stack is deleted.
        """
        repository_name: str = repository.repository_name  # type: ignore[attr-defined]
        repository_arn: str = repository.repository_arn  # type: ignore[attr-defined]
        stack = Stack.of(self)
        lambda_statement = {
            "Sid": "LambdaECRImageRetrievalPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {
                "StringLike": {"aws:sourceArn": f"arn:aws:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"}
            },
        }
        emr_statement = {
            "Sid": "EmrServerlessCustomImageSupport",
            "Effect": "Allow",
            "Principal": {"Service": EMR_SERVICE},
            "Action": ECR_PULL_ACTIONS,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": emr_applications_arn(Aws.REGION, Aws.ACCOUNT_ID)},
            },
        }

        def set_policy(statements: list[dict]) -> cr.AwsSdkCall:
            return cr.AwsSdkCall(
                service="ECR",
                action="setRepositoryPolicy",
                parameters={
                    "repositoryName": repository_name,
                    "policyText": stack.to_json_string({"Version": "2012-10-17", "Statement": statements}),
                },
                physical_resource_id=cr.PhysicalResourceId.of(f"{repository_name}/emr-serverless-pull"),
            )

        resource = cr.AwsCustomResource(
            self,
            "ImagePullPolicy",
            on_create=set_policy([lambda_statement, emr_statement]),
            on_update=set_policy([lambda_statement, emr_statement]),
            on_delete=set_policy([lambda_statement]),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ecr:SetRepositoryPolicy"], resources=[repository_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        for provider in stack_singletons(stack, AWS_CUSTOM_RESOURCE_PROVIDER_ID):
            acknowledge(
                provider,
                {
                    BASIC_EXECUTION_ROLE: (
                        "CDK's AwsCustomResource provider; the managed policy only lets it write logs."
                    )
                },
            )
        return resource

    def _job_role(
        self, config: PipelineConfig, *, ingestion: s3.IBucket, results: s3.IBucket, artifacts: s3.IBucket
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

        def list_prefixes(sid: str, bucket: s3.IBucket, *prefixes: str) -> iam.PolicyStatement:
            return iam.PolicyStatement(
                sid=sid,
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
            )

        statements = [
            iam.PolicyStatement(
                sid="ReadUploads",
                actions=["s3:GetObject"],
                resources=objects(ingestion, config.uploads_prefix),
            ),
            list_prefixes("ListUploads", ingestion, config.uploads_prefix),
            iam.PolicyStatement(
                sid="ReadCodeModelsManifests",
                actions=["s3:GetObject"],
                resources=objects(
                    artifacts,
                    config.code_prefix,
                    config.models_prefix,
                    config.manifests_prefix,
                    config.pca_models_prefix,
                ),
            ),
            iam.PolicyStatement(
                sid="WritePcaModelsAndLogs",
                actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=objects(artifacts, config.pca_models_prefix, config.emr_logs_prefix),
            ),
            list_prefixes(
                "ListArtifacts",
                artifacts,
                config.code_prefix,
                config.models_prefix,
                config.manifests_prefix,
                config.pca_models_prefix,
                config.emr_logs_prefix,
            ),
            iam.PolicyStatement(
                sid="ReadWriteFeatureStore",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=objects(results, config.features_prefix),
            ),
            list_prefixes("ListFeatureStore", results, config.features_prefix),
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
                    (ingestion, config.uploads_prefix),
                    (artifacts, config.code_prefix),
                    (artifacts, config.models_prefix),
                    (artifacts, config.manifests_prefix),
                    (artifacts, config.pca_models_prefix),
                    (artifacts, config.emr_logs_prefix),
                    (results, config.features_prefix),
                ]
            },
        )
        return role
