"""Answer: each upload answered as soon as it lands (S3 -> EventBridge -> a container-image Lambda).

The ingestion bucket's EventBridge delivery is independent of its SQS notification (the batch path is
unchanged): a rule on the default bus matches "Object Created" under the uploads prefix and invokes the
answer Lambda asynchronously. Failures are retried twice over (EventBridge's delivery, Lambda's queue),
then land in a dead-letter queue: those uploads are answered by the batch, whose answers never replace
an existing one. The Lambda reads the upload and the promoted models and writes the answer, nothing else.
"""

from __future__ import annotations

from aws_cdk import Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk_app._util import acknowledge, dead_letter_queue, log_retention, nag_ref
from cdk_app.answer_props import AnswerProps
from cdk_app.monitoring import ALARM_PERIOD
from cdk_app.orchestration import s3_uri
from cdk_app.shared import REPO_ROOT
from lambdas.answer import config as answer_env
from spark_app.core.model import PINNED_LITERT_NAME
from spark_app.models.registry import ARRAYS_FILE, LATEST_POINTER, VERSION_FILE

HANDLER = "lambdas.answer.handler.handler"
DOCKERFILE = "docker/answer-lambda.Dockerfile"
#: The image's build context: the repository root reduced to what the Dockerfile copies (Docker ignore
#: rules, later wins). It is also what the image's asset hash is computed from.
IMAGE_CONTEXT_EXCLUDE: tuple[str, ...] = (
    "*",
    f"!{DOCKERFILE}",
    "!lambdas/__init__.py",
    "!lambdas/answer",
    "!spark_app",
    f"!models/{PINNED_LITERT_NAME}",
    f"!models/{PINNED_LITERT_NAME}.sha256",
    "**/__pycache__",
    "**/*.pyc",
    "**/.*",
)
#: The objects of a registry the Lambda reads: the pointer and each version's metadata and arrays.
REGISTRY_KEYS = (LATEST_POINTER, f"*/{VERSION_FILE}", f"*/{ARRAYS_FILE}")
_PLATFORMS = {
    "x86_64": (ecr_assets.Platform.LINUX_AMD64, lambda_.Architecture.X86_64),
    "arm64": (ecr_assets.Platform.LINUX_ARM64, lambda_.Architecture.ARM_64),
}


class Answer(Construct):
    """The answer Lambda (container image), its EventBridge rule, dead-letter queue and alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: AnswerProps,
        *,
        ingestion: s3.IBucket,
        results: s3.IBucket,
        artifacts: s3.IBucket,
        alerts: sns.ITopic,
    ):
        super().__init__(scope, construct_id)
        platform, architecture = _PLATFORMS[props.answer_architecture]
        max_event_age = Duration.seconds(props.answer_max_event_age_seconds)

        self.dead_letter_queue = dead_letter_queue(self, props.dead_letter_queue_name, "the answer events")
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{props.function_name}",
            retention=log_retention(props.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = self._role(props, ingestion=ingestion, results=results, artifacts=artifacts)

        # Built by `cdk deploy` (Docker needed then only) into the stack's image repository.
        self.image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(REPO_ROOT),
            file=DOCKERFILE,
            exclude=list(IMAGE_CONTEXT_EXCLUDE),
            ignore_mode=IgnoreMode.DOCKER,
            platform=platform,
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=props.function_name,
            description="Answers each upload as soon as it lands (the batch's model, PCA and classifier)",
            code=lambda_.DockerImageCode.from_ecr(
                self.image.repository, tag_or_digest=self.image.image_tag, cmd=[HANDLER]
            ),
            architecture=architecture,
            memory_size=props.answer_memory_mb,
            timeout=Duration.seconds(props.answer_timeout_seconds),
            reserved_concurrent_executions=props.answer_max_concurrency,
            role=self.role,
            log_group=self.log_group,
            # Lambda's asynchronous queue: retries of a failed invocation, then the dead-letter queue.
            retry_attempts=props.answer_invoke_retries,
            max_event_age=max_event_age,
            dead_letter_queue=self.dead_letter_queue,
            environment={
                answer_env.ENV_ANSWERS_ROOT: s3_uri(results, props.answers_prefix),
                answer_env.ENV_PCA_MODEL_DIR: s3_uri(artifacts, props.pca_models_prefix),
                answer_env.ENV_CLASSIFIER_DIR: s3_uri(artifacts, props.classifiers_prefix),
                answer_env.ENV_UPLOADS_PREFIX: props.uploads_prefix,
                answer_env.ENV_MAX_OBJECT_BYTES: str(props.max_object_bytes),
                answer_env.ENV_CONFIDENCE_THRESHOLD: str(props.confidence_threshold),
                answer_env.ENV_MODELS_TTL_SECONDS: str(props.answer_models_ttl_seconds),
                answer_env.ENV_POWERTOOLS_SERVICE_NAME: answer_env.DEFAULT_SERVICE_NAME,
                answer_env.ENV_POWERTOOLS_LOG_LEVEL: props.powertools_log_level,
            },
        )

        # S3 -> EventBridge (independent of the bucket's SQS notification) -> this rule -> the Lambda.
        ingestion.enable_event_bridge_notification()
        self.rule = events.Rule(
            self,
            "UploadCreated",
            rule_name=props.rule_name,
            description="An object created under the uploads prefix: answer it now",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [ingestion.bucket_name]},
                    "object": {"key": [{"prefix": props.uploads_prefix}]},
                },
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                retry_attempts=props.answer_delivery_retries,
                max_event_age=max_event_age,
                dead_letter_queue=self.dead_letter_queue,
            )
        )
        self.alarms = self._alarms(props, alerts)

    def _role(
        self, props: AnswerProps, *, ingestion: s3.IBucket, results: s3.IBucket, artifacts: s3.IBucket
    ) -> iam.Role:
        """Reads the upload and the promoted models, writes the answer and its own logs; nothing else."""
        role = iam.Role(
            self,
            "Role",
            description="Answer Lambda: read uploads and the promoted models, write answers",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        registries = [props.pca_models_prefix, props.classifiers_prefix]
        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="ReadUploads",
                actions=["s3:GetObject"],
                resources=[ingestion.arn_for_objects(f"{props.uploads_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="ReadPromotedModels",
                actions=["s3:GetObject"],
                resources=[
                    artifacts.arn_for_objects(f"{r}{key}") for r in registries for key in REGISTRY_KEYS
                ],
            ),
            # Before the first promotion LATEST does not exist: S3 answers 404 (no model yet) only to a
            # caller that may list the bucket, 403 otherwise. The artifacts bucket holds code, models and
            # manifests' names, no photo; its objects stay unreadable but for the grants above.
            iam.PolicyStatement(
                sid="MissingLatestReadsAsNotFound",
                actions=["s3:ListBucket"],
                resources=[artifacts.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="WriteAnswers",
                actions=["s3:PutObject"],
                resources=[results.arn_for_objects(f"{props.answers_prefix}*")],
            ),
        ]
        for statement in statements:
            role.add_to_policy(statement)
        stack = Stack.of(self)
        artifacts_ref = nag_ref(stack, artifacts.bucket_arn)
        findings = {
            f"AwsSolutions-IAM5[Resource::{nag_ref(stack, ingestion.bucket_arn)}/{props.uploads_prefix}*]": (
                "Upload keys are only known when the event arrives; reads are limited to the uploads prefix."
            ),
            f"AwsSolutions-IAM5[Resource::{nag_ref(stack, results.bucket_arn)}/{props.answers_prefix}*]": (
                "An answer's key is its upload's key; writes are limited to the answers prefix."
            ),
        }
        version_reads = "Version names are made at fit time; only a version's metadata and arrays are read."
        for registry in registries:
            for key in REGISTRY_KEYS[1:]:
                findings[f"AwsSolutions-IAM5[Resource::{artifacts_ref}/{registry}{key}]"] = version_reads
        acknowledge(role.node.find_child("DefaultPolicy"), findings)
        return role

    def _alarms(self, props: AnswerProps, alerts: sns.ITopic) -> dict[str, cw.Alarm]:
        """Errors of the Lambda and events left to the batch, to the alert topic."""
        metrics = {
            "AnswerErrors": (
                self.function.metric_errors(period=ALARM_PERIOD, statistic=cw.Stats.SUM),
                f"{props.function_name}: answer Lambda errors (retried, then left to the batch)",
            ),
            "AnswerDeadLetters": (
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=ALARM_PERIOD, statistic=cw.Stats.MAXIMUM
                ),
                f"{props.function_name}: uploads not answered at once (the batch answers them)",
            ),
        }
        alarms = {}
        for alarm_id, (metric, description) in metrics.items():
            alarm = cw.Alarm(
                self,
                alarm_id,
                metric=metric,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cw_actions.SnsAction(alerts))
            alarms[alarm_id] = alarm
        return alarms
