"""Erasure: the state machine that erases one app identity, its own least-privilege job role, and the
two grants its protocol needs elsewhere (the app API starts it; the answer Lambda reads its tombstones).

Each pass is ``spark_app erase`` on the EMR Serverless application (the same code and image as the
batches, no Spark work: boto3 and pyarrow in the driver). The state machine runs a pass, reads the
receipt the pass wrote, and repeats after ``poll_seconds`` until the receipt says ``done`` (running
batches finished, the hold is over). Input: ``{"identity_id": ..., "erasure_id": <32 hex>}``.
"""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_app._util import acknowledge, list_under, log_retention, nag_ref
from cdk_app.catalog import glue_arns
from cdk_app.erasure_props import ErasureProps
from cdk_app.images import EMR_SERVICE, emr_applications_arn
from cdk_app.orchestration import (
    ERROR_PATH,
    JobResources,
    emr_job_state,
    grant_job_control,
    region_arguments,
    s3_uri,
)
from lambdas.answer.config import ENV_FEATURE_STORE
from lambdas.app_api.config import ENV_ERASURE_STATE_MACHINE_ARN
from spark_app.core.defaults import ERASURE_DIR, LEASE_SECONDS
from spark_app.core.erasure import RECEIPTS, TOMBSTONES
from spark_app.core.schema import DATASETS

_DELETE = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
_REWRITE = ["s3:GetObject", "s3:PutObject", *_DELETE]
#: Listing objects and their versions (a prefix purged in a versioned bucket).
_LIST_VERSIONS = ("s3:ListBucket", "s3:ListBucketVersions")


def erase_arguments(
    props: ErasureProps, *, store: str, ingest: str, answers: str, manifests: str, table: str, region: str
) -> str:
    """The ``EntryPointArguments.$`` intrinsic of a pass: the identity and receipt id from the input."""
    literal = [
        "--store", store, "--ingest", ingest, "--staging-prefix", props.staging_prefix,
        "--uploads-prefix", props.uploads_prefix, "--answers", answers, "--manifests", manifests,
        "--identity-table", table, "--delete-cognito-identity", "--glue-database", props.glue_database,
        "--hold-seconds", str(props.hold_seconds), *region_arguments(region),
    ]  # fmt: skip
    return (
        "States.Array('erase', '--identity', $.identity_id, '--erasure-id', $.erasure_id, "
        + ", ".join(f"'{argument}'" for argument in literal)
        + ")"
    )


class Erasure(Construct):
    """Erase one identity, pass after pass, until its receipt says done; failures alert."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: ErasureProps,
        *,
        resources: JobResources,
        ingestion: s3.IBucket,
        identity_table: dynamodb.ITable,
    ):
        super().__init__(scope, construct_id)
        self.props = props
        stack = Stack.of(self)
        self.results = resources.results
        self.store = s3_uri(resources.results, props.features_prefix)
        self.job_role = self._job_role(props, resources, ingestion, identity_table)
        jobs = replace(resources, job_role=self.job_role)
        erase = emr_job_state(
            self,
            "ErasePass",
            props.spark,
            jobs,
            comment="One idempotent erasure pass: buckets, store, manifests, catalog, identity table",
            arguments=erase_arguments(
                props,
                store=self.store,
                ingest=f"s3://{ingestion.bucket_name}",
                answers=s3_uri(resources.results, props.answers_prefix),
                manifests=s3_uri(resources.artifacts, props.manifests_prefix),
                table=identity_table.table_name,
                region=stack.region,
            ),
            name="States.Format('erase-{}', $.erasure_id)",
            driver=props.spark.batch_driver,
        )
        receipts = f"{props.features_prefix}{ERASURE_DIR}/{RECEIPTS}/"
        read_receipt = tasks.CallAwsService(
            self,
            "ReadReceipt",
            comment="The pass's receipt (counts and times only): done, or pending",
            service="s3",
            action="getObject",
            parameters={
                "Bucket": resources.results.bucket_name,
                "Key": sfn.JsonPath.format(f"{receipts}{{}}.json", sfn.JsonPath.string_at("$.erasure_id")),
            },
            iam_resources=[resources.results.arn_for_objects(f"{receipts}*")],
            result_selector={"receipt": sfn.JsonPath.string_to_json(sfn.JsonPath.string_at("$.Body"))},
            result_path="$.pass",
        )
        notify = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=resources.alerts,
            subject="Fruits! erasure failed",
            message=sfn.TaskInput.from_object(
                {
                    "erasure_id": sfn.JsonPath.string_at("$.erasure_id"),
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.string_at(f"{ERROR_PATH}.Error"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        on_failure = notify.next(
            sfn.Fail(self, "ErasureFailed", error="ErasureFailed", cause="see the alert")
        )
        for state in (erase, read_receipt):
            state.add_catch(on_failure, errors=["States.ALL"], result_path=ERROR_PATH)
        again = sfn.Wait(
            self, "WaitForWriters", time=sfn.WaitTime.duration(Duration.seconds(props.poll_seconds))
        )
        done = (
            sfn.Choice(self, "Done?")
            .when(sfn.Condition.string_equals("$.pass.receipt.status", "done"), sfn.Succeed(self, "Erased"))
            .otherwise(again.next(erase))
        )
        definition = erase.next(read_receipt).next(done)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{props.state_machine_name}",
            retention=log_retention(props.spark.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Running batches (their leases) and the hold, then the passes themselves.
        minutes = (props.hold_seconds + LEASE_SECONDS) // 60 + 3 * props.spark.task_timeout_minutes
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=props.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.minutes(minutes),
            tracing_enabled=True,
            # No execution data: the input holds the identity id (docs/gdpr.md).
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        grant_job_control(self.state_machine, jobs)
        acknowledge(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            {
                f"AwsSolutions-IAM5[Resource::{nag_ref(stack, resources.results.bucket_arn)}/{receipts}*]": (
                    "Receipts are named by the erasure id of the execution; only receipts are readable."
                )
            },
        )

    def _job_role(
        self,
        props: ErasureProps,
        resources: JobResources,
        ingestion: s3.IBucket,
        table: dynamodb.ITable,
    ) -> iam.Role:
        """The passes' own role: delete and rewrite exactly what an identity leaves, nothing else."""
        stack = Stack.of(self)
        results, artifacts = resources.results, resources.artifacts
        role = iam.Role(
            self,
            "JobRole",
            description="Runtime role of the Fruits! erasure passes on EMR Serverless",
            assumed_by=iam.ServicePrincipal(
                EMR_SERVICE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": emr_applications_arn(stack.region, stack.account)},
                },
            ),
        )
        spark = props.spark
        ingest_prefixes = [props.staging_prefix, props.uploads_prefix]
        statements = [
            iam.PolicyStatement(
                sid="ReadCode",
                actions=["s3:GetObject"],
                resources=[
                    artifacts.arn_for_objects(k) for k in (spark.code_archive_key, spark.entry_point_key)
                ],
            ),
            iam.PolicyStatement(
                sid="WriteJobLogs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[artifacts.arn_for_objects(f"{props.emr_logs_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="EraseUploads",
                actions=_DELETE,
                resources=[ingestion.arn_for_objects(f"{prefix}*") for prefix in ingest_prefixes],
            ),
            list_under(
                "ListUploads", ingestion, [f"{prefix}*" for prefix in ingest_prefixes], _LIST_VERSIONS
            ),
            iam.PolicyStatement(
                sid="EraseAnswers",
                actions=_DELETE,
                resources=[results.arn_for_objects(f"{props.answers_prefix}*")],
            ),
            # Features, errors, corrections, and the erasure's tombstones, leases and receipts.
            iam.PolicyStatement(
                sid="RewriteFeatureStore",
                actions=_REWRITE,
                resources=[results.arn_for_objects(f"{props.features_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="RewriteManifests",
                actions=_REWRITE,
                resources=[artifacts.arn_for_objects(f"{props.manifests_prefix}*")],
            ),
            list_under("ListManifests", artifacts, [f"{props.manifests_prefix}*"], _LIST_VERSIONS),
            # HeadObject of a receipt or tombstone that may not exist needs ListBucket without a prefix.
            iam.PolicyStatement(
                sid="ListResults",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[results.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="DropEmptiedPartitions",
                actions=["glue:BatchDeletePartition"],
                resources=glue_arns(stack, props.glue_database, list(DATASETS)),
            ),
            iam.PolicyStatement(
                sid="EraseIdentityItems",
                actions=["dynamodb:Query", "dynamodb:DeleteItem"],
                resources=[table.table_arn],
            ),
            # DeleteIdentities has no resource type (Service Authorization Reference): "*" or nothing.
            iam.PolicyStatement(
                sid="DeleteIdentity", actions=["cognito-identity:DeleteIdentities"], resources=["*"]
            ),
        ]
        policy = iam.Policy(self, "JobPolicy", statements=statements)
        role.attach_inline_policy(policy)
        acknowledge(
            policy,
            {
                f"AwsSolutions-IAM5[Resource::{nag_ref(stack, bucket.bucket_arn)}/{prefix}*]": (
                    f"Object-level access is scoped to the one key prefix an identity's data lies under "
                    f"({prefix}); its keys are not known in advance."
                )
                for bucket, prefix in [
                    (ingestion, props.staging_prefix),
                    (ingestion, props.uploads_prefix),
                    (results, props.answers_prefix),
                    (results, props.features_prefix),
                    (artifacts, props.manifests_prefix),
                    (artifacts, props.emr_logs_prefix),
                ]
            }
            | {
                "AwsSolutions-IAM5[Resource::*]": (
                    "cognito-identity:DeleteIdentities supports no resource-level permission; a pass deletes "
                    "only the identity its erasure was started for (the app API's signer)."
                )
            },
        )
        return role

    def let_start(self, function: lambda_.Function) -> None:
        """The app API may start an erasure (of its caller: lambdas/app_api/erasure.py)."""
        self.state_machine.grant_start_execution(function)
        function.add_environment(ENV_ERASURE_STATE_MACHINE_ARN, self.state_machine.state_machine_arn)

    def let_check_tombstones(self, function: lambda_.Function) -> None:
        """The answer Lambda may list the tombstones (one key at a time), to answer no erased identity,
        and delete an app upload's answer it wrote while the erasure began (lambdas/answer/erasure.py)."""
        function.add_environment(ENV_FEATURE_STORE, self.store)
        # Only under an identity's folder (``<region>:<uuid>``): never a curated or a non-app answer.
        answers = f"{self.props.answers_prefix}{self.props.uploads_prefix}*:*/*"
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeleteOwnAnswerOfErased",
                actions=["s3:DeleteObject"],
                resources=[self.results.arn_for_objects(answers)],
            )
        )
        stack = Stack.of(self)
        acknowledge(
            function.role.node.find_child("DefaultPolicy"),  # type: ignore[union-attr]
            {
                f"AwsSolutions-IAM5[Resource::{nag_ref(stack, self.results.bucket_arn)}/{answers}]": (
                    "Only the answers of app uploads, and only to remove the one the invocation wrote "
                    "while the identity's erasure began."
                )
            },
        )
        tombstones = f"{self.props.features_prefix}{ERASURE_DIR}/{TOMBSTONES}/*"
        function.add_to_role_policy(list_under("ListTombstones", self.results, [tombstones]))
