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
from cdk_app.config import DriverSize, PipelineConfig, ResourceNames

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
class JobContext:
    """What every Spark job state needs: where the code, data and role are."""

    config: PipelineConfig
    names: ResourceNames
    application_id: str
    application_arn: str
    job_role: iam.IRole
    results: s3.IBucket
    artifacts: s3.IBucket
    alerts: sns.ITopic

    def s3_uri(self, bucket: s3.IBucket, prefix: str) -> str:
        return f"s3://{bucket.bucket_name}/{prefix.rstrip('/')}"

    @property
    def store(self) -> str:
        return self.s3_uri(self.results, self.config.features_prefix)

    @property
    def pca_dir(self) -> str:
        return self.s3_uri(self.artifacts, self.config.pca_models_prefix)

    @property
    def classifier_dir(self) -> str:
        return self.s3_uri(self.artifacts, self.config.classifiers_prefix)


def spark_entry_arguments(config: PipelineConfig, *, results_bucket: str, artifacts_bucket: str) -> str:
    """The ``EntryPointArguments.$`` intrinsic: the spark_app CLI with the execution input filled in."""
    literal = {
        "output": f"s3://{results_bucket}/{config.features_prefix.rstrip('/')}",
        "weights": f"s3://{artifacts_bucket}/{config.weights_key}",
        "pca_model_dir": f"s3://{artifacts_bucket}/{config.pca_models_prefix.rstrip('/')}",
        "classifier_dir": f"s3://{artifacts_bucket}/{config.classifiers_prefix.rstrip('/')}",
        "answers": f"s3://{results_bucket}/{config.answers_prefix.rstrip('/')}",
    }
    return (
        "States.Array('--manifest', $.manifest_uri, '--batch-id', $.batch_id, "
        f"'--output', '{literal['output']}', '--weights', '{literal['weights']}', "
        f"'--pca-model', 'latest', '--pca-model-dir', '{literal['pca_model_dir']}', "
        # The same per-object size limit as the ingest Lambda applies.
        f"'--max-file-bytes', '{config.max_object_bytes}', "
        f"'--glue-database', '{config.names().glue_database}', "
        f"'--classifier', 'latest', '--classifier-dir', '{literal['classifier_dir']}', "
        f"'--confidence-threshold', '{config.confidence_threshold}', '--answers', '{literal['answers']}')"
    )


def refit_steps(ctx: JobContext) -> list[tuple[str, str, list[str]]]:
    """(state id, comment, spark_app arguments) of the refit workflow, in order."""
    config = ctx.config
    steps = [
        (
            "FitPca",
            "Fit one PCA basis over every batch of the store (saved, not promoted)",
            [
                "pca",
                "fit",
                "--store",
                ctx.store,
                "--pca-model-dir",
                ctx.pca_dir,
                "--min-images",
                str(config.pca_min_images),
            ],
        ),
        (
            "PromotePca",
            "Point LATEST at the new basis (atomic)",
            ["pca", "promote", "--pca-model-dir", ctx.pca_dir],
        ),
        (
            "BackfillPca",
            "Project every batch not on the promoted basis",
            ["pca", "backfill", "--store", ctx.store, "--pca-model-dir", ctx.pca_dir],
        ),
    ]
    if config.refit_trains_classifier:
        steps += [
            (
                "TrainClassifier",
                "Train a classifier on the labelled rows of the store (saved, not promoted)",
                [
                    "classifier",
                    "train",
                    "--store",
                    ctx.store,
                    "--classifier-dir",
                    ctx.classifier_dir,
                    "--min-per-class",
                    str(config.classifier_min_per_class),
                ],
            ),
            (
                "PromoteClassifier",
                "Point LATEST at the new classifier (atomic)",
                ["classifier", "promote", "--classifier-dir", ctx.classifier_dir],
            ),
        ]
    return steps


def spark_submit_parameters(
    config: PipelineConfig, *, artifacts_bucket: str, driver: DriverSize | None = None
) -> str:
    """spark-submit options: code archive, the image's Python 3.11, and the worker sizing."""
    python = config.python_path
    driver = driver or config.batch_driver
    return " ".join(
        [
            f"--py-files s3://{artifacts_bucket}/{config.code_archive_key}",
            f"--conf spark.executor.cores={config.executor_cores}",
            f"--conf spark.executor.memory={config.executor_memory_gb}g",
            f"--conf spark.executor.memoryOverhead={config.executor_memory_overhead_gb}g",
            f"--conf spark.driver.cores={driver.cores}",
            f"--conf spark.driver.memory={driver.memory_gb}g",
            f"--conf spark.driver.memoryOverhead={driver.memory_overhead_gb}g",
            f"--conf spark.dynamicAllocation.initialExecutors={config.initial_executors}",
            "--conf spark.dynamicAllocation.minExecutors=0",
            f"--conf spark.dynamicAllocation.maxExecutors={config.max_executors}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={python}",
            f"--conf spark.executorEnv.PYSPARK_PYTHON={python}",
        ]
    )


def emr_job_state(
    scope: Construct,
    state_id: str,
    ctx: JobContext,
    *,
    comment: str,
    arguments: str | Sequence[str],
    name: str,
    driver: DriverSize | None = None,
) -> sfn.CustomState:
    """A ``startJobRun.sync`` task running spark_app with ``arguments`` (an intrinsic, or a fixed list)."""
    config = ctx.config
    job_timeout = Duration.minutes(config.job_timeout_minutes)
    args_key = "EntryPointArguments.$" if isinstance(arguments, str) else "EntryPointArguments"
    state = sfn.CustomState(
        scope,
        state_id,
        state_json={
            "Type": "Task",
            "Comment": comment,
            "Resource": START_JOB_RUN_SYNC,
            "Parameters": {
                "ApplicationId": ctx.application_id,
                "ExecutionRoleArn": ctx.job_role.role_arn,
                "ClientToken.$": "States.UUID()",
                "Name.$": name,
                "ExecutionTimeoutMinutes": config.job_timeout_minutes,
                "JobDriver": {
                    "SparkSubmit": {
                        "EntryPoint": f"s3://{ctx.artifacts.bucket_name}/{config.entry_point_key}",
                        args_key: arguments if isinstance(arguments, str) else list(arguments),
                        "SparkSubmitParameters": spark_submit_parameters(
                            config, artifacts_bucket=ctx.artifacts.bucket_name, driver=driver
                        ),
                    }
                },
            },
            # The job run's description (small) is kept next to the input.
            "ResultPath": JOB_RESULT_PATH,
            # The job's own timeout plus time to queue and start.
            "TimeoutSeconds": int(job_timeout.to_seconds()) + 30 * 60,
        },
    )
    state.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=Duration.seconds(30),
        max_attempts=4,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    if config.job_failure_retries:
        # A failed run is retried once after a pause: capacity or infrastructure hiccups. Every job is
        # idempotent (a batch's partition is replaced; fits save new versions; promotion is conditional).
        state.add_retry(
            errors=["States.TaskFailed"],
            interval=Duration.minutes(2),
            max_attempts=config.job_failure_retries,
            backoff_rate=2,
        )
    return state


class JobStateMachine(Construct):
    """A STANDARD state machine running job states in order; any failure notifies SNS, then fails."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        ctx: JobContext,
        *,
        state_machine_name: str,
        jobs: Sequence[sfn.CustomState],
        subject: str,
        alert_fields: dict[str, str],
    ):
        super().__init__(scope, construct_id)
        config = ctx.config
        notify = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=ctx.alerts,
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
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.minutes(
                len(jobs) * config.job_timeout_minutes * (2 + config.job_failure_retries) + 60
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        grant_job_control(self.state_machine, ctx)


def grant_job_control(state_machine: sfn.StateMachine, ctx: JobContext) -> None:
    """IAM for the .sync integration (CustomState grants nothing by itself)."""
    stack = Stack.of(state_machine)
    application_arn = ctx.application_arn
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
            resources=[ctx.job_role.role_arn],
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

    def __init__(self, scope: Construct, construct_id: str, ctx: JobContext):
        super().__init__(scope, construct_id)
        run_job = emr_job_state(
            self,
            "RunFeatureJob",
            ctx,
            comment="Features, PCA projection, prediction and answers for one batch on EMR Serverless",
            arguments=spark_entry_arguments(
                ctx.config, results_bucket=ctx.results.bucket_name, artifacts_bucket=ctx.artifacts.bucket_name
            ),
            name="$.batch_id",
        )
        machine = JobStateMachine(
            self,
            "Pipeline",
            ctx,
            state_machine_name=ctx.names.state_machine,
            jobs=[run_job],
            subject="Fruits! feature job failed",
            alert_fields={"batch_id": "$.batch_id", "manifest_uri": "$.manifest_uri"},
        )
        self.state_machine = machine.state_machine
        self.log_group = machine.log_group


class Refit(Construct):
    """The refit workflow (fit -> promote -> back-fill -> train -> promote), on demand or scheduled."""

    def __init__(self, scope: Construct, construct_id: str, ctx: JobContext):
        super().__init__(scope, construct_id)
        jobs = [
            emr_job_state(
                self,
                state_id,
                ctx,
                comment=comment,
                arguments=arguments,
                name=f"States.Format('{{}}-{state_id.lower()}', $$.Execution.Name)",
                driver=ctx.config.refit_driver,
            )
            for state_id, comment, arguments in refit_steps(ctx)
        ]
        machine = JobStateMachine(
            self,
            "Workflow",
            ctx,
            state_machine_name=ctx.names.refit_state_machine,
            jobs=jobs,
            subject="Fruits! PCA/classifier refit failed",
            alert_fields={"workflow": "$$.StateMachine.Name"},
        )
        self.state_machine = machine.state_machine
        self.schedule: scheduler.CfnSchedule | None = None
        if ctx.config.refit_schedule:
            self.schedule = self._schedule(ctx)

    def _schedule(self, ctx: JobContext) -> scheduler.CfnSchedule:
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
            name=ctx.names.refit_schedule,
            description="Refit the PCA basis and the classifier over the whole feature store",
            schedule_expression=ctx.config.refit_schedule,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.state_machine.state_machine_arn, role_arn=role.role_arn, input="{}"
            ),
        )
