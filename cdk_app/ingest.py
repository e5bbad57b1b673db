"""Ingest: S3 ObjectCreated on the uploads prefix -> SQS (with DLQ) -> the ingest Lambda -> state machine."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app._util import (
    BASIC_EXECUTION_ROLE,
    acknowledge,
    dead_letter_queue,
    log_retention,
    stack_singletons,
)
from cdk_app.ingest_props import IngestProps, powertools_layer_arn
from cdk_app.shared import REPO_ROOT
from lambdas.ingest import config as ingest_env

HANDLER = "lambdas.ingest.handler.handler"
#: Glob rules (applied in order, later wins) selecting the Lambda's files from the repository root:
#: all of lambdas/ and the whole Spark-free core of spark_app (``spark_app/__init__.py`` imports
#: nothing), and the whole store package (its object I/O and record writers use boto3 only; its Spark
#: modules import pyspark inside their functions, which no Lambda calls), without caches or hidden files.
#: tests/cdk builds this asset and imports each handler from it.
LAMBDA_ASSET_EXCLUDE: tuple[str, ...] = (
    "*",
    ".*",
    "!lambdas",
    "!lambdas/**",
    "!spark_app",
    "!spark_app/__init__.py",
    "!spark_app/core",
    "!spark_app/core/**",
    "!spark_app/store",
    "!spark_app/store/**",
    "**/__pycache__",
    "**/*.pyc",
    "**/.*",
)


def lambda_code() -> lambda_.AssetCode:
    """The Lambdas' code asset (no Docker, no pip: dependencies come from the Powertools layer)."""
    return lambda_.Code.from_asset(
        str(REPO_ROOT), exclude=list(LAMBDA_ASSET_EXCLUDE), ignore_mode=IgnoreMode.GLOB
    )


def function_log_group(scope: Construct, function_name: str, retention_days: int) -> logs.LogGroup:
    """A project Lambda's log group (``Logs``), named as Lambda names it, deleted with the stack."""
    return logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/aws/lambda/{function_name}",
        retention=log_retention(retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )


def python_function(
    scope: Construct,
    *,
    function_name: str,
    description: str,
    handler: str,
    role: iam.IRole,
    timeout: Duration,
    log_group: logs.ILogGroup,
    powertools_layer_version: int,
    environment: dict[str, str],
) -> lambda_.Function:
    """A project Lambda (``Function``): Python 3.11 on x86_64, :func:`lambda_code`, the Powertools layer."""
    layer_arn = powertools_layer_arn(Stack.of(scope).region, powertools_layer_version)
    return lambda_.Function(
        scope,
        "Function",
        function_name=function_name,
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_11,
        architecture=lambda_.Architecture.X86_64,
        handler=handler,
        code=lambda_code(),
        layers=[lambda_.LayerVersion.from_layer_version_arn(scope, "Powertools", layer_arn)],
        role=role,
        memory_size=256,
        timeout=timeout,
        log_group=log_group,
        environment=environment,
    )


class Ingest(Construct):
    """Upload notifications batched through SQS into one manifest and one execution per batch."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: IngestProps,
        *,
        ingestion: s3.IBucket,
        artifacts: s3.IBucket,
        state_machine: sfn.IStateMachine,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        timeout = Duration.seconds(props.ingest_timeout_seconds)

        self.dead_letter_queue = dead_letter_queue(
            self, props.dead_letter_queue_name, "the upload notifications"
        )
        self.queue = sqs.Queue(
            self,
            "UploadQueue",
            queue_name=props.queue_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(props.visibility_timeout_seconds),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=props.dlq_max_receive_count
            ),
        )
        for prefix in (props.uploads_prefix, props.curated_prefix):
            ingestion.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.SqsDestination(self.queue),
                s3.NotificationKeyFilter(prefix=prefix),
            )

        self.log_group = function_log_group(self, props.function_name, props.log_retention_days)
        # An explicit role: logs to its own log group only (no AWS managed policy).
        self.role = iam.Role(
            self,
            "Role",
            description="Ingest Lambda: write manifests, start pipeline executions, consume the upload queue",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteManifests",
                actions=["s3:PutObject"],
                resources=[artifacts.arn_for_objects(f"{props.manifests_prefix}*")],
            )
        )

        self.function = python_function(
            self,
            function_name=props.function_name,
            description="Batches upload notifications into a manifest and starts the feature pipeline",
            handler=HANDLER,
            role=self.role,
            timeout=timeout,
            log_group=self.log_group,
            powertools_layer_version=props.powertools_layer_version,
            environment={
                ingest_env.ENV_STATE_MACHINE_ARN: state_machine.state_machine_arn,
                ingest_env.ENV_MANIFEST_BUCKET: artifacts.bucket_name,
                ingest_env.ENV_MANIFEST_PREFIX: props.manifests_prefix,
                ingest_env.ENV_UPLOADS_PREFIX: props.uploads_prefix,
                ingest_env.ENV_CURATED_PREFIX: props.curated_prefix,
                ingest_env.ENV_MAX_OBJECT_BYTES: str(props.max_object_bytes),
                ingest_env.ENV_POWERTOOLS_SERVICE_NAME: ingest_env.DEFAULT_SERVICE_NAME,
                ingest_env.ENV_POWERTOOLS_LOG_LEVEL: props.powertools_log_level,
            },
        )
        state_machine.grant_start_execution(self.function)
        # A batch uploaded again after its execution failed is replayed (<batch_id>-r<n>): the Lambda
        # reads the status of the batch's earlier executions (lambdas/ingest/executions.py).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadBatchExecutions",
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{props.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=props.batch_size,
                max_batching_window=Duration.seconds(props.batch_window_seconds),
                report_batch_item_failures=True,
                max_concurrency=props.ingest_max_concurrency,
            )
        )

        policy = self.role.node.find_child("DefaultPolicy")
        artifacts_ref = stack.resolve(artifacts.bucket_arn)["Fn::GetAtt"][0]
        acknowledge(
            policy,
            {
                f"AwsSolutions-IAM5[Resource::<{artifacts_ref}.Arn>/{props.manifests_prefix}*]": (
                    "Manifests get new keys (one per batch); writes are limited to the manifests prefix."
                ),
                (
                    f"AwsSolutions-IAM5[Resource::arn:aws:states:{stack.region}:<AWS::AccountId>:"
                    f"execution:{props.state_machine_name}:*]"
                ): "Execution names are batch ids, known at run time; only this state machine's executions.",
            },
        )
        acknowledge(
            self.function,
            {
                "AwsSolutions-L1": (
                    "Python 3.11 is the project's runtime (as for the Spark job and the Powertools layer)"
                )
            },
        )
        for handler in stack_singletons(stack, "BucketNotificationsHandler"):
            acknowledge(
                handler,
                {
                    BASIC_EXECUTION_ROLE: (
                        "CDK's S3 bucket-notifications handler; the managed policy only lets it write logs."
                    )
                },
            )
