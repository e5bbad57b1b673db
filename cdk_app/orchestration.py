"""Orchestration: a Step Functions state machine that runs one Spark job per batch and reports failures."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk_app._util import acknowledge, log_retention, nag_ref
from cdk_app.config import PipelineConfig

#: Optimized integration that starts a job run and waits for it to finish.
START_JOB_RUN_SYNC = "arn:aws:states:::emr-serverless:startJobRun.sync"
#: EventBridge rule Step Functions manages for the .sync EMR Serverless integration.
SYNC_MANAGED_RULE = "StepFunctionsGetEventsForEMRServerlessJobRule"
#: Service errors worth retrying with backoff (throttling, service-side faults).
TRANSIENT_ERRORS = ["EMRServerless.ThrottlingException", "EMRServerless.InternalServerException"]
#: Where a failure's error and cause are kept, next to the original input.
ERROR_PATH = "$.error"
JOB_RESULT_PATH = "$.job"


def spark_entry_arguments(config: PipelineConfig, *, results_bucket: str, artifacts_bucket: str) -> str:
    """The ``EntryPointArguments.$`` intrinsic: the spark_app CLI with the execution input filled in."""
    literal = {
        "output": f"s3://{results_bucket}/{config.features_prefix.rstrip('/')}",
        "weights": f"s3://{artifacts_bucket}/{config.weights_key}",
        "pca_model_dir": f"s3://{artifacts_bucket}/{config.pca_models_prefix.rstrip('/')}",
    }
    return (
        "States.Array('--manifest', $.manifest_uri, '--batch-id', $.batch_id, "
        f"'--output', '{literal['output']}', '--weights', '{literal['weights']}', "
        f"'--pca-model', 'latest', '--pca-model-dir', '{literal['pca_model_dir']}', "
        # The same per-object size limit as the ingest Lambda applies.
        f"'--max-file-bytes', '{config.max_object_bytes}')"
    )


def spark_submit_parameters(config: PipelineConfig, *, artifacts_bucket: str) -> str:
    """spark-submit options: code archive, the image's Python 3.11, and the worker sizing."""
    python = config.python_path
    return " ".join(
        [
            f"--py-files s3://{artifacts_bucket}/{config.code_archive_key}",
            f"--conf spark.executor.cores={config.executor_cores}",
            f"--conf spark.executor.memory={config.executor_memory_gb}g",
            f"--conf spark.executor.memoryOverhead={config.executor_memory_overhead_gb}g",
            f"--conf spark.driver.cores={config.driver_cores}",
            f"--conf spark.driver.memory={config.driver_memory_gb}g",
            f"--conf spark.driver.memoryOverhead={config.driver_memory_overhead_gb}g",
            f"--conf spark.dynamicAllocation.maxExecutors={config.max_executors}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={python}",
            f"--conf spark.executorEnv.PYSPARK_PYTHON={python}",
        ]
    )


class Orchestration(Construct):
    """State machine: run the job (.sync) with timeout and retries; on failure notify SNS and fail."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        state_machine_name: str,
        application_id: str,
        application_arn: str,
        job_role: iam.IRole,
        results: s3.IBucket,
        artifacts: s3.IBucket,
        alerts: sns.ITopic,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        job_timeout = Duration.minutes(config.job_timeout_minutes)

        run_job = sfn.CustomState(
            self,
            "RunFeatureJob",
            state_json={
                "Type": "Task",
                "Comment": "Extract MobileNetV2 features and PCA for one batch on EMR Serverless",
                "Resource": START_JOB_RUN_SYNC,
                "Parameters": {
                    "ApplicationId": application_id,
                    "ExecutionRoleArn": job_role.role_arn,
                    "ClientToken.$": "States.UUID()",
                    "Name.$": "$.batch_id",
                    "ExecutionTimeoutMinutes": config.job_timeout_minutes,
                    "JobDriver": {
                        "SparkSubmit": {
                            "EntryPoint": f"s3://{artifacts.bucket_name}/{config.entry_point_key}",
                            "EntryPointArguments.$": spark_entry_arguments(
                                config,
                                results_bucket=results.bucket_name,
                                artifacts_bucket=artifacts.bucket_name,
                            ),
                            "SparkSubmitParameters": spark_submit_parameters(
                                config, artifacts_bucket=artifacts.bucket_name
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
        run_job.add_retry(
            errors=TRANSIENT_ERRORS,
            interval=Duration.seconds(30),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        if config.job_failure_retries:
            # A failed run is retried once after a pause: capacity or infrastructure hiccups. Re-running
            # a batch is idempotent (its output partition is replaced).
            run_job.add_retry(
                errors=["States.TaskFailed"],
                interval=Duration.minutes(2),
                max_attempts=config.job_failure_retries,
                backoff_rate=2,
            )

        notify = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=alerts,
            subject="Fruits! feature job failed",
            message=sfn.TaskInput.from_object(
                {
                    "batch_id": sfn.JsonPath.string_at("$.batch_id"),
                    "manifest_uri": sfn.JsonPath.string_at("$.manifest_uri"),
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.string_at(f"{ERROR_PATH}.Error"),
                    "cause": sfn.JsonPath.string_at(f"{ERROR_PATH}.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        failed = sfn.Fail(
            self, "JobFailed", error="FeatureJobFailed", cause="The Spark job failed; see the alert"
        )
        run_job.add_catch(notify.next(failed), errors=["States.ALL"], result_path=ERROR_PATH)
        definition = run_job.next(sfn.Succeed(self, "Done"))

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
            timeout=Duration.minutes(config.job_timeout_minutes * (2 + config.job_failure_retries) + 60),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self._grant_job_control(stack, application_arn=application_arn, job_role=job_role)

    def _grant_job_control(self, stack: Stack, *, application_arn: str, job_role: iam.IRole) -> None:
        """IAM for the .sync integration (CustomState grants nothing by itself)."""
        sm = self.state_machine
        sm.add_to_role_policy(
            iam.PolicyStatement(
                sid="StartJobRun", actions=["emr-serverless:StartJobRun"], resources=[application_arn]
            )
        )
        job_runs = f"{application_arn}/jobruns/*"
        sm.add_to_role_policy(
            iam.PolicyStatement(
                sid="WatchAndCancelJobRun",
                actions=["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"],
                resources=[job_runs],
            )
        )
        sm.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassJobRole",
                actions=["iam:PassRole"],
                resources=[job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}},
            )
        )
        rule_arn = stack.format_arn(service="events", resource="rule", resource_name=SYNC_MANAGED_RULE)
        sm.add_to_role_policy(
            iam.PolicyStatement(
                sid="ManagedSyncRule",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[rule_arn],
            )
        )
        policy = sm.role.node.find_child("DefaultPolicy")
        app_logical_id = nag_ref(stack, application_arn)
        acknowledge(
            policy,
            {
                f"AwsSolutions-IAM5[Resource::{app_logical_id}/jobruns/*]": (
                    "Job run ids are generated at run time; access is limited to this application's runs."
                ),
                "AwsSolutions-IAM5[Resource::*]": (
                    "CloudWatch Logs delivery (logs:*LogDelivery, DescribeLogGroups, ...) and X-Ray "
                    "PutTraceSegments/PutTelemetryRecords do not support resource-level permissions."
                ),
            },
        )
