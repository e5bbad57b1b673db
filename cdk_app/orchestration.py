"""Orchestration: Step Functions state machines that run Spark jobs on EMR Serverless and report failures.

- the feature pipeline: one job per batch of uploads (features, PCA projection, prediction, answers);
- the refit: fit a PCA basis over the whole store -> promote it -> back-fill every batch -> train a
  classifier -> promote it, on demand or on an EventBridge Scheduler schedule.

Both are built from one job-state builder (:func:`emr_job_state`) and one state-machine builder
(:class:`JobStateMachine`): same retries, timeout, X-Ray, logs without execution data, failure alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_app._util import acknowledge, log_retention, nag_ref
from cdk_app.orchestration_props import (
    FAILED_RUN_RETRY_MINUTES,
    RETRY_BACKOFF,
    TRANSIENT_RETRY_ATTEMPTS,
    TRANSIENT_RETRY_SECONDS,
    DriverSize,
    OrchestrationProps,
    RefitProps,
    SparkJobProps,
)

#: Optimized integration that starts a job run and waits for it to finish.
START_JOB_RUN_SYNC = "arn:aws:states:::emr-serverless:startJobRun.sync"
#: EventBridge rule Step Functions manages for the .sync EMR Serverless integration.
SYNC_MANAGED_RULE = "StepFunctionsGetEventsForEMRServerlessJobRule"
#: Service errors worth retrying with backoff (throttling, service-side faults).
TRANSIENT_ERRORS = ["EMRServerless.ThrottlingException", "EMRServerless.InternalServerException"]
#: Where a failure's error and cause are kept, next to the original input.
ERROR_PATH = "$.error"
JOB_RESULT_PATH = "$.job"


@dataclass(frozen=True)
class JobResources:
    """The resources the Spark job states use: the EMR application, its job role, buckets, alert topic."""

    application_id: str
    application_arn: str
    job_role: iam.IRole
    results: s3.IBucket
    artifacts: s3.IBucket
    alerts: sns.ITopic


def s3_uri(bucket: s3.IBucket, prefix: str) -> str:
    """``s3://bucket/prefix`` without the trailing '/' (how spark_app takes directories)."""
    return f"s3://{bucket.bucket_name}/{prefix.rstrip('/')}"


def region_arguments(region: str) -> list[str]:
    """Every job's region, explicitly: nothing documents that EMR Serverless sets ``AWS_DEFAULT_REGION``
    (the only variable botocore reads), and the job's clients would then have none."""
    return ["--region", region]


def spark_entry_arguments(props: OrchestrationProps, resources: JobResources, region: str) -> str:
    """The ``EntryPointArguments.$`` intrinsic: the spark_app CLI with the execution input filled in."""
    results, artifacts = resources.results, resources.artifacts
    literal = {
        "output": s3_uri(results, props.features_prefix),
        "weights": f"s3://{artifacts.bucket_name}/{props.weights_key}",
        "pca_model_dir": s3_uri(artifacts, props.pca_models_prefix),
        "classifier_dir": s3_uri(artifacts, props.classifiers_prefix),
        "answers": s3_uri(results, props.answers_prefix),
    }
    return (
        "States.Array('--manifest', $.manifest_uri, '--batch-id', $.batch_id, "
        f"'--output', '{literal['output']}', '--weights', '{literal['weights']}', "
        f"'--pca-model', 'latest', '--pca-model-dir', '{literal['pca_model_dir']}', "
        # The same per-object size limit as the ingest Lambda applies.
        f"'--max-file-bytes', '{props.max_object_bytes}', "
        f"'--glue-database', '{props.glue_database}', "
        f"'--classifier', 'latest', '--classifier-dir', '{literal['classifier_dir']}', "
        f"'--confidence-threshold', '{props.confidence_threshold}', '--answers', '{literal['answers']}', "
        + ", ".join(f"'{argument}'" for argument in region_arguments(region))
        + ")"
    )


def refit_steps(props: RefitProps, resources: JobResources) -> list[tuple[str, str, list[str]]]:
    """(state id, comment, spark_app arguments) of the refit workflow, in order."""
    store = s3_uri(resources.results, props.features_prefix)
    pca_dir = s3_uri(resources.artifacts, props.pca_models_prefix)
    classifier_dir = s3_uri(resources.artifacts, props.classifiers_prefix)
    steps = [
        (
            "FitPca",
            "Fit one PCA basis over every batch of the store (saved, not promoted)",
            [
                "pca",
                "fit",
                "--store",
                store,
                "--pca-model-dir",
                pca_dir,
                "--min-images",
                str(props.pca_min_images),
            ],
        ),
        (
            "PromotePca",
            "Point LATEST at the new basis (atomic)",
            ["pca", "promote", "--pca-model-dir", pca_dir],
        ),
        (
            "BackfillPca",
            "Project every batch not on the promoted basis",
            ["pca", "backfill", "--store", store, "--pca-model-dir", pca_dir],
        ),
    ]
    if props.refit_trains_classifier:
        steps += [
            (
                "TrainClassifier",
                "Train a classifier on the curated rows and trusted corrections, judged by the gate (saved)",
                [
                    "classifier",
                    "train",
                    "--store",
                    store,
                    "--classifier-dir",
                    classifier_dir,
                    "--min-per-class",
                    str(props.classifier_min_per_class),
                ],
            ),
            (
                "PromoteClassifier",
                "Point LATEST at the new classifier if the promotion gate passed it (atomic)",
                ["classifier", "promote", "--classifier-dir", classifier_dir, "--gate"],
            ),
        ]
    return steps


def spark_submit_parameters(spark: SparkJobProps, *, artifacts_bucket: str, driver: DriverSize) -> str:
    """spark-submit options: code archive, the image's Python 3.11, and the worker sizing."""
    python = spark.python_path
    return " ".join(
        [
            f"--py-files s3://{artifacts_bucket}/{spark.code_archive_key}",
            f"--conf spark.executor.cores={spark.executor_cores}",
            f"--conf spark.executor.memory={spark.executor_memory_gb}g",
            f"--conf spark.executor.memoryOverhead={spark.executor_memory_overhead_gb}g",
            f"--conf spark.driver.cores={driver.cores}",
            f"--conf spark.driver.memory={driver.memory_gb}g",
            f"--conf spark.driver.memoryOverhead={driver.memory_overhead_gb}g",
            f"--conf spark.dynamicAllocation.initialExecutors={spark.initial_executors}",
            "--conf spark.dynamicAllocation.minExecutors=0",
            f"--conf spark.dynamicAllocation.maxExecutors={spark.max_executors}",
            # Scale out only for a backlog that outlasts a worker's provisioning, then quickly.
            f"--conf spark.dynamicAllocation.schedulerBacklogTimeout={spark.scale_out_after_seconds}s",
            "--conf spark.dynamicAllocation.sustainedSchedulerBacklogTimeout=5s",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={python}",
            f"--conf spark.executorEnv.PYSPARK_PYTHON={python}",
        ]
    )


def emr_job_state(
    scope: Construct,
    state_id: str,
    spark: SparkJobProps,
    resources: JobResources,
    *,
    comment: str,
    arguments: str | Sequence[str],
    name: str,
    driver: DriverSize,
) -> sfn.CustomState:
    """A ``startJobRun.sync`` task running spark_app with ``arguments`` (an intrinsic, or a fixed list)."""
    artifacts_bucket = resources.artifacts.bucket_name
    args_key = "EntryPointArguments.$" if isinstance(arguments, str) else "EntryPointArguments"
    state = sfn.CustomState(
        scope,
        state_id,
        state_json={
            "Type": "Task",
            "Comment": comment,
            "Resource": START_JOB_RUN_SYNC,
            "Parameters": {
                "ApplicationId": resources.application_id,
                "ExecutionRoleArn": resources.job_role.role_arn,
                "ClientToken.$": "States.UUID()",
                "Name.$": name,
                "ExecutionTimeoutMinutes": spark.job_timeout_minutes,
                "JobDriver": {
                    "SparkSubmit": {
                        "EntryPoint": f"s3://{artifacts_bucket}/{spark.entry_point_key}",
                        args_key: arguments if isinstance(arguments, str) else list(arguments),
                        "SparkSubmitParameters": spark_submit_parameters(
                            spark, artifacts_bucket=artifacts_bucket, driver=driver
                        ),
                    }
                },
            },
            # The job run's description (small) is kept next to the input.
            "ResultPath": JOB_RESULT_PATH,
            # The run's queue timeout + its execution timeout + time to start: a healthy run that
            # queued behind another is never cancelled here before EMR Serverless would.
            "TimeoutSeconds": int(Duration.minutes(spark.task_timeout_minutes).to_seconds()),
        },
    )
    state.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=Duration.seconds(TRANSIENT_RETRY_SECONDS),
        max_attempts=TRANSIENT_RETRY_ATTEMPTS,
        backoff_rate=RETRY_BACKOFF,
        jitter_strategy=sfn.JitterType.FULL,
    )
    if spark.job_failure_retries:
        # A failed run is retried once after a pause: capacity or infrastructure hiccups. Every job is
        # idempotent (a batch's partition is replaced; fits save new versions; promotion is conditional).
        state.add_retry(
            errors=["States.TaskFailed"],
            interval=Duration.minutes(FAILED_RUN_RETRY_MINUTES),
            max_attempts=spark.job_failure_retries,
            backoff_rate=RETRY_BACKOFF,
        )
    return state


class JobStateMachine(Construct):
    """A STANDARD state machine running job states in order; any failure notifies SNS, then fails."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        spark: SparkJobProps,
        resources: JobResources,
        *,
        state_machine_name: str,
        jobs: Sequence[sfn.CustomState],
        subject: str,
        alert_fields: dict[str, str],
    ):
        super().__init__(scope, construct_id)
        notify = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=resources.alerts,
            subject=subject,
            message=sfn.TaskInput.from_object(
                {
                    **{key: sfn.JsonPath.string_at(path) for key, path in alert_fields.items()},
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.string_at(f"{ERROR_PATH}.Error"),
                    "cause": sfn.JsonPath.string_at(f"{ERROR_PATH}.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        failed = sfn.Fail(
            self, "JobFailed", error="SparkJobFailed", cause="A Spark job failed; see the alert"
        )
        on_failure = notify.next(failed)
        for job in jobs:
            job.add_catch(on_failure, errors=["States.ALL"], result_path=ERROR_PATH)
        chain: sfn.IChainable = jobs[0]
        for job in jobs[1:]:
            chain = chain.next(job)  # type: ignore[attr-defined]
        definition = chain.next(sfn.Succeed(self, "Done"))  # type: ignore[attr-defined]

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{state_machine_name}",
            retention=log_retention(spark.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.minutes(spark.state_machine_timeout_minutes(len(jobs))),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        grant_job_control(self.state_machine, resources)


def grant_job_control(state_machine: sfn.StateMachine, resources: JobResources) -> None:
    """IAM for the .sync integration (CustomState grants nothing by itself)."""
    stack = Stack.of(state_machine)
    application_arn = resources.application_arn
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            sid="StartJobRun", actions=["emr-serverless:StartJobRun"], resources=[application_arn]
        )
    )
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            sid="WatchAndCancelJobRun",
            actions=["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"],
            resources=[f"{application_arn}/jobruns/*"],
        )
    )
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            sid="PassJobRole",
            actions=["iam:PassRole"],
            resources=[resources.job_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}},
        )
    )
    rule_arn = stack.format_arn(service="events", resource="rule", resource_name=SYNC_MANAGED_RULE)
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            sid="ManagedSyncRule",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[rule_arn],
        )
    )
    policy = state_machine.role.node.find_child("DefaultPolicy")
    acknowledge(
        policy,
        {
            f"AwsSolutions-IAM5[Resource::{nag_ref(stack, application_arn)}/jobruns/*]": (
                "Job run ids are generated at run time; access is limited to this application's runs."
            ),
            "AwsSolutions-IAM5[Resource::*]": (
                "CloudWatch Logs delivery (logs:*LogDelivery, DescribeLogGroups, ...) and X-Ray "
                "PutTraceSegments/PutTelemetryRecords do not support resource-level permissions."
            ),
        },
    )


class Orchestration(Construct):
    """The feature pipeline: one job per batch, named by the batch id."""

    def __init__(
        self, scope: Construct, construct_id: str, props: OrchestrationProps, *, resources: JobResources
    ):
        super().__init__(scope, construct_id)
        run_job = emr_job_state(
            self,
            "RunFeatureJob",
            props.spark,
            resources,
            comment="Features, PCA projection, prediction and answers for one batch on EMR Serverless",
            arguments=spark_entry_arguments(props, resources, Stack.of(self).region),
            name="$.batch_id",
            driver=props.spark.batch_driver,
        )
        machine = JobStateMachine(
            self,
            "Pipeline",
            props.spark,
            resources,
            state_machine_name=props.state_machine_name,
            jobs=[run_job],
            subject="Fruits! feature job failed",
            alert_fields={"batch_id": "$.batch_id", "manifest_uri": "$.manifest_uri"},
        )
        self.state_machine = machine.state_machine
        self.log_group = machine.log_group


class Refit(Construct):
    """The refit workflow (fit -> promote -> back-fill -> train -> promote), on demand or scheduled."""

    def __init__(self, scope: Construct, construct_id: str, props: RefitProps, *, resources: JobResources):
        super().__init__(scope, construct_id)
        jobs = [
            emr_job_state(
                self,
                state_id,
                props.spark,
                resources,
                comment=comment,
                arguments=[*arguments, *region_arguments(Stack.of(self).region)],
                name=f"States.Format('{{}}-{state_id.lower()}', $$.Execution.Name)",
                driver=props.spark.refit_driver,
            )
            for state_id, comment, arguments in refit_steps(props, resources)
        ]
        machine = JobStateMachine(
            self,
            "Workflow",
            props.spark,
            resources,
            state_machine_name=props.state_machine_name,
            jobs=jobs,
            subject="Fruits! PCA/classifier refit failed",
            alert_fields={"workflow": "$$.StateMachine.Name"},
        )
        self.state_machine = machine.state_machine
        self.schedule: scheduler.CfnSchedule | None = None
        if props.refit_schedule:
            self.schedule = self._schedule(props)

    def _schedule(self, props: RefitProps) -> scheduler.CfnSchedule:
        """EventBridge Scheduler starts the refit; its role may start this state machine only."""
        role = iam.Role(
            self,
            "SchedulerRole",
            description="EventBridge Scheduler: start the Fruits! refit workflow",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
        )
        self.state_machine.grant_start_execution(role)
        return scheduler.CfnSchedule(
            self,
            "Schedule",
            name=props.schedule_name,
            description="Refit the PCA basis and the classifier over the whole feature store",
            schedule_expression=props.refit_schedule,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.state_machine.state_machine_arn, role_arn=role.role_arn, input="{}"
            ),
        )
