"""Template assertions for every promise of the stack (one shared synthesis, see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cdk_helpers import as_list, policy_statements, resolve_join, synthesize

from cdk_app.orchestration import START_JOB_RUN_SYNC, SYNC_MANAGED_RULE, TRANSIENT_ERRORS

# -- storage -------------------------------------------------------------------------------------


def test_four_buckets_all_private_encrypted_and_owner_enforced(synth) -> None:
    buckets = synth.resources("AWS::S3::Bucket")
    assert len(buckets) == 4
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ] == {"SSEAlgorithm": "AES256"}
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert bucket["DeletionPolicy"] == "Retain"


def test_every_bucket_denies_plain_http_and_old_tls(synth) -> None:
    buckets = synth.resources("AWS::S3::Bucket")
    policies = synth.resources("AWS::S3::BucketPolicy")
    covered = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
        assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies)
        covered.add(policy["Properties"]["Bucket"]["Ref"])
    assert covered == set(buckets)


def test_server_access_logs_go_to_the_access_log_bucket(synth) -> None:
    logs_id = synth.logical_id(synth.stack.storage.access_logs)
    logged = {
        k: v["Properties"]["LoggingConfiguration"]
        for k, v in synth.resources("AWS::S3::Bucket").items()
        if "LoggingConfiguration" in v["Properties"]
    }
    assert len(logged) == 3 and logs_id not in logged
    assert all(cfg["DestinationBucketName"] == {"Ref": logs_id} for cfg in logged.values())


def _bucket(synth, construct) -> dict[str, Any]:
    return synth.template_json["Resources"][synth.logical_id(construct)]["Properties"]


def test_versioning_protects_results_and_artifacts_not_transient_uploads(synth) -> None:
    storage = synth.stack.storage
    assert _bucket(synth, storage.results)["VersioningConfiguration"] == {"Status": "Enabled"}
    assert _bucket(synth, storage.artifacts)["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "VersioningConfiguration" not in _bucket(synth, storage.ingestion)


def test_raw_uploads_expire_after_the_configured_retention(synth) -> None:
    rules = _bucket(synth, synth.stack.storage.ingestion)["LifecycleConfiguration"]["Rules"]
    expiry = [r for r in rules if r.get("Prefix") == "uploads/"]
    assert expiry == [
        {"Id": "expire-raw-uploads", "Prefix": "uploads/", "ExpirationInDays": 7, "Status": "Enabled"}
    ]


def test_every_bucket_aborts_incomplete_multipart_uploads(synth) -> None:
    for bucket in synth.resources("AWS::S3::Bucket").values():
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        assert any(r.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 1} for r in rules)


def test_versioned_buckets_expire_noncurrent_versions_and_manifests_expire(synth) -> None:
    storage = synth.stack.storage
    for bucket in (storage.results, storage.artifacts):
        rules = _bucket(synth, bucket)["LifecycleConfiguration"]["Rules"]
        assert any(r.get("NoncurrentVersionExpiration") == {"NoncurrentDays": 30} for r in rules)
    artifact_rules = _bucket(synth, storage.artifacts)["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "expire-manifests",
        "Prefix": "manifests/",
        "ExpirationInDays": 30,
        "Status": "Enabled",
    } in (artifact_rules)


# -- artifacts -----------------------------------------------------------------------------------


def test_code_and_weights_are_deployed_to_their_prefixes(synth) -> None:
    deployments = synth.resources("Custom::CDKBucketDeployment")
    artifacts_id = synth.logical_id(synth.stack.storage.artifacts)
    prefixes = sorted(d["Properties"]["DestinationBucketKeyPrefix"] for d in deployments.values())
    assert prefixes == ["code/", "models/"]
    assert all(
        d["Properties"]["DestinationBucketName"] == {"Ref": artifacts_id} for d in deployments.values()
    )


# -- processing ----------------------------------------------------------------------------------


def test_emr_serverless_application_is_capped_auto_stopping_and_has_no_warm_pool(synth) -> None:
    (app,) = synth.resources("AWS::EMRServerless::Application").values()
    props = app["Properties"]
    assert props["ReleaseLabel"] == "emr-7.12.0"
    assert props["Type"] == "Spark"
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 5}
    assert props["MaximumCapacity"] == {"Cpu": "32 vCPU", "Memory": "128 GB", "Disk": "640 GB"}
    assert "InitialCapacity" not in props
    assert "NetworkConfiguration" not in props  # no VPC, no NAT
    assert "ImageUri" in props["ImageConfiguration"]
    log_uri = resolve_join(props["MonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri"])
    assert log_uri.endswith("/emr-logs/")


def test_custom_image_is_built_from_the_dockerfile_at_deploy_time(synth) -> None:
    assets = json.loads(next(synth.outdir.glob("FruitsPipeline.assets.json")).read_text())
    (image,) = [
        i for i in assets["dockerImages"].values() if i["source"]["dockerFile"] == "emr-serverless.Dockerfile"
    ]
    # Its build context is its Dockerfile alone (the answer Lambda's Dockerfile beside it is excluded).
    assert [p.name for p in (synth.outdir / image["source"]["directory"]).iterdir()] == [
        "emr-serverless.Dockerfile"
    ]
    assert image["source"]["platform"] == "linux/amd64"


def test_the_image_lives_in_a_stack_owned_repository_emr_serverless_may_pull(synth) -> None:
    images = synth.stack.images
    repos = {
        k: v for k, v in images_template(synth)["Resources"].items() if v["Type"] == "AWS::ECR::Repository"
    }
    ((_, repo),) = repos.items()
    props = repo["Properties"]
    assert props["RepositoryName"] == synth.config.names().image_repository == "fruits-spark-image"
    assert props["EmptyOnDelete"] is True and repo["DeletionPolicy"] == "Delete"
    statements = {st["Sid"]: st for st in props["RepositoryPolicyText"]["Statement"]}
    emr = statements["EmrServerlessCustomImageSupport"]
    assert emr["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert sorted(emr["Action"]) == ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]
    assert "aws:SourceAccount" in emr["Condition"]["StringEquals"]
    publisher = resolve_join(statements["CdkImagePublishing"]["Principal"]["AWS"])
    assert publisher.endswith(":role/cdk-hnb659fds-image-publishing-role-${AWS::AccountId}-eu-west-3")
    # Nothing touches the shared CDK bootstrap repository any more.
    assert not synth.resources("Custom::AWS")
    # The pipeline depends on the image stack, and its image URI points at that repository.
    assert images.stack_name in [d.stack_name for d in synth.stack.dependencies]
    (app,) = synth.resources("AWS::EMRServerless::Application").values()
    uri = app["Properties"]["ImageConfiguration"]["ImageUri"]["Fn::Sub"]
    assert "/fruits-spark-image:" in uri


def _refers_to_a_resource(value: Any) -> bool:
    """True when an intrinsic value contains a Ref or GetAtt to a resource (not a pseudo parameter)."""
    if isinstance(value, dict):
        ref = value.get("Ref")
        if isinstance(ref, str) and not ref.startswith("AWS::"):
            return True
        return "Fn::GetAtt" in value or any(_refers_to_a_resource(v) for v in value.values())
    if isinstance(value, list):
        return any(_refers_to_a_resource(v) for v in value)
    return False


def images_template(synth) -> dict[str, Any]:
    """The image-repository stack's template (synthesized next to the pipeline's)."""
    return json.loads((synth.outdir / f"{synth.stack.images.stack_name}.template.json").read_text())


def test_retained_resources_have_generated_names_so_redeploy_after_destroy_works(synth) -> None:
    """Whatever `cdk destroy` leaves behind (DeletionPolicy Retain) must not block the next deploy."""
    name_properties = ("BucketName", "RepositoryName", "QueueName", "TopicName", "LogGroupName", "RoleName")
    for template in (synth.template_json, images_template(synth)):
        retained = {k: v for k, v in template["Resources"].items() if v.get("DeletionPolicy") == "Retain"}
        for logical_id, resource in retained.items():
            props = resource.get("Properties", {})
            # A name built from another resource's generated id (a Ref to it) is unique per deploy.
            fixed = [p for p in name_properties if p in props and not _refers_to_a_resource(props[p])]
            assert not fixed, f"{logical_id} is retained on delete but has a fixed name: {fixed}"
    assert len(synth.resources("AWS::S3::Bucket")) == 4


def test_job_role_is_assumed_by_emr_serverless_only(synth) -> None:
    role = synth.template_json["Resources"][synth.logical_id(synth.stack.processing.job_role)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]


def _job_statements(synth) -> dict[str, dict[str, Any]]:
    role = synth.logical_id(synth.stack.processing.job_role)
    statements = policy_statements(synth.template_json, role)
    return {s["Sid"]: s for s in statements}


def _object_resources(statement: dict[str, Any]) -> list[str]:
    return sorted(resolve_join(r) for r in as_list(statement["Resource"]))


def test_job_role_s3_access_is_scoped_to_prefixes(synth) -> None:
    storage = synth.stack.storage
    ingestion, artifacts, results = (
        synth.logical_id(b) for b in (storage.ingestion, storage.artifacts, storage.results)
    )
    s = _job_statements(synth)
    assert s["ReadUploads"]["Action"] == "s3:GetObject"
    # App uploads and curated data; never the app's staged photos (incoming/).
    assert _object_resources(s["ReadUploads"]) == [
        f"${{{ingestion}.Arn}}/curated/*",
        f"${{{ingestion}.Arn}}/uploads/*",
    ]
    assert _object_resources(s["ReadCodeModelsManifests"]) == sorted(
        f"${{{artifacts}.Arn}}/{p}*" for p in ("code/", "models/", "manifests/")
    )
    # EMRFS directories: the prefix's objects, the prefix as a key, and its _$folder$ marker.
    assert _object_resources(s["ReadWritePcaModels"]) == sorted(
        f"${{{artifacts}.Arn}}/{k}" for k in ("pca-models/*", "pca-models", "pca-models_$folder$")
    )
    assert _object_resources(s["ReadWriteFeatureStore"]) == sorted(
        f"${{{results}.Arn}}/{k}" for k in ("features-store/*", "features-store", "features-store_$folder$")
    )
    assert _object_resources(s["WriteJobLogs"]) == [f"${{{artifacts}.Arn}}/emr-logs/*"]
    assert _object_resources(s["ReadWriteClassifiers"]) == sorted(
        f"${{{artifacts}.Arn}}/{k}" for k in ("classifiers/*", "classifiers", "classifiers_$folder$")
    )
    assert s["WriteAnswers"]["Action"] == "s3:PutObject"
    assert _object_resources(s["WriteAnswers"]) == [f"${{{results}.Arn}}/answers/*"]
    glue = sorted(resolve_join(r) for r in s["RegisterBatchPartitions"]["Resource"])
    assert glue == sorted(
        f"arn:aws:glue:eu-west-3:${{AWS::AccountId}}:{r}"
        for r in (
            "catalog",
            "database/fruits_features",
            "table/fruits_features/features",
            "table/fruits_features/errors",
        )
    )
    assert "glue:DeleteTable" not in s["RegisterBatchPartitions"]["Action"]
    assert "s3:PutObject" not in as_list(s["ReadCodeModelsManifests"]["Action"])
    assert s["ListUploads"]["Action"] == "s3:ListBucket"
    assert s["ListUploads"]["Condition"]["StringLike"]["s3:prefix"] == ["uploads/*", "curated/*"]
    # HeadBucket needs s3:ListBucket without a prefix condition on the job's own two buckets.
    assert "Condition" not in s["ListOwnBuckets"]
    assert _object_resources(s["ListOwnBuckets"]) == sorted(f"${{{b}.Arn}}" for b in (artifacts, results))
    assert set(s) == {
        "ReadUploads",
        "ListUploads",
        "ReadCodeModelsManifests",
        "ReadWritePcaModels",
        "WriteJobLogs",
        "ReadWriteFeatureStore",
        "ListOwnBuckets",
        "ReadWriteClassifiers",
        "WriteAnswers",
        "RegisterBatchPartitions",
    }


# -- orchestration -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def definition(synth) -> dict[str, Any]:
    return machine_definition(synth, "fruits-feature-pipeline")


def machine_definition(synth, name: str) -> dict[str, Any]:
    """The definition of the state machine called ``name``."""
    machines = synth.resources("AWS::StepFunctions::StateMachine").values()
    (machine,) = [m for m in machines if m["Properties"]["StateMachineName"] == name]
    return json.loads(resolve_join(machine["Properties"]["DefinitionString"]))


def test_job_runs_with_the_emr_serverless_sync_integration(synth, definition) -> None:
    task = definition["States"][definition["StartAt"]]
    assert task["Type"] == "Task"
    assert task["Resource"] == START_JOB_RUN_SYNC == "arn:aws:states:::emr-serverless:startJobRun.sync"
    params = task["Parameters"]
    app_id = next(iter(synth.resources("AWS::EMRServerless::Application")))
    assert params["ApplicationId"] == f"${{{app_id}.ApplicationId}}"
    assert params["ExecutionRoleArn"] == f"${{{synth.logical_id(synth.stack.processing.job_role)}.Arn}}"
    assert params["ClientToken.$"] == "States.UUID()"
    assert params["Name.$"] == "$.batch_id"
    assert params["ExecutionTimeoutMinutes"] == 120
    assert task["TimeoutSeconds"] > 120 * 60


def test_job_arguments_follow_the_spark_app_cli(synth, definition) -> None:
    artifacts = synth.logical_id(synth.stack.storage.artifacts)
    results = synth.logical_id(synth.stack.storage.results)
    spark = definition["States"]["RunFeatureJob"]["Parameters"]["JobDriver"]["SparkSubmit"]
    assert spark["EntryPoint"] == f"s3://${{{artifacts}}}/code/main.py"
    assert spark["EntryPointArguments.$"] == (
        "States.Array('--manifest', $.manifest_uri, '--batch-id', $.batch_id, "
        f"'--output', 's3://${{{results}}}/features-store', "
        f"'--weights', 's3://${{{artifacts}}}/models/mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5', "
        f"'--pca-model', 'latest', '--pca-model-dir', 's3://${{{artifacts}}}/pca-models', "
        "'--max-file-bytes', '52428800', '--glue-database', 'fruits_features', "
        f"'--classifier', 'latest', '--classifier-dir', 's3://${{{artifacts}}}/classifiers', "
        f"'--confidence-threshold', '0.5', '--answers', 's3://${{{results}}}/answers', "
        "'--region', 'eu-west-3')"  # every client of the job gets the stack's region explicitly
    )
    params = spark["SparkSubmitParameters"]
    assert f"--py-files s3://${{{artifacts}}}/code/spark_app.zip" in params
    assert "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=/usr/bin/python3.11" in params
    assert "spark.executorEnv.PYSPARK_PYTHON=/usr/bin/python3.11" in params
    for sizing in (
        "spark.executor.cores=2",
        "spark.executor.memory=2g",
        "spark.executor.memoryOverhead=2g",
        "spark.driver.cores=1",
        "spark.driver.memory=2g",
        "spark.driver.memoryOverhead=2g",
        "spark.dynamicAllocation.maxExecutors=15",  # (32 vCPU cap - 1) // 2
        "spark.dynamicAllocation.initialExecutors=1",  # a small batch pays one executor, not EMR's 3
        "spark.dynamicAllocation.minExecutors=0",
        "spark.dynamicAllocation.schedulerBacklogTimeout=30s",  # scale out for a lasting backlog only
    ):
        assert f"--conf {sizing}" in params


def test_transient_errors_are_retried_with_backoff(definition) -> None:
    retries = definition["States"]["RunFeatureJob"]["Retry"]
    throttling = next(r for r in retries if "EMRServerless.ThrottlingException" in r["ErrorEquals"])
    assert (
        throttling["BackoffRate"] == 2
        and throttling["MaxAttempts"] >= 3
        and throttling["IntervalSeconds"] > 0
    )
    failed = next(r for r in retries if r["ErrorEquals"] == ["States.TaskFailed"])
    assert failed["MaxAttempts"] == 1 and failed["BackoffRate"] == 2


def test_failures_are_caught_published_to_sns_and_fail_the_execution(synth, definition) -> None:
    states = definition["States"]
    (catch,) = states["RunFeatureJob"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert catch["ResultPath"] == "$.error"  # keeps the input (batch id, manifest) next to the error
    notify = states[catch["Next"]]
    assert notify["Resource"] == "arn:${AWS::Partition}:states:::sns:publish"
    assert notify["Parameters"]["TopicArn"] == f"${{{synth.logical_id(synth.stack.alerts.topic)}}}"
    assert notify["Parameters"]["Message"]["batch_id.$"] == "$.batch_id"
    assert states[notify["Next"]]["Type"] == "Fail"
    assert states[states["RunFeatureJob"]["Next"]]["Type"] == "Succeed"


def test_state_machine_logs_without_execution_data(synth) -> None:
    synth.template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "fruits-feature-pipeline",
            "StateMachineType": "STANDARD",
            "LoggingConfiguration": {"IncludeExecutionData": False, "Level": "ALL"},
            "TracingConfiguration": {"Enabled": True},
        },
    )
    synth.template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/aws/vendedlogs/states/fruits-feature-pipeline", "RetentionInDays": 30},
    )


def _state_machine_statements(synth) -> dict[str, dict[str, Any]]:
    role_id = synth.logical_id(synth.stack.orchestration.state_machine.role)
    statements = policy_statements(synth.template_json, role_id)
    return {s.get("Sid", f"#{i}"): s for i, s in enumerate(statements)}


def test_state_machine_iam_for_the_sync_integration(synth) -> None:
    s = _state_machine_statements(synth)
    app_id = next(iter(synth.resources("AWS::EMRServerless::Application")))
    job_role = synth.logical_id(synth.stack.processing.job_role)
    assert s["StartJobRun"]["Action"] == "emr-serverless:StartJobRun"
    assert resolve_join(s["StartJobRun"]["Resource"]) == f"${{{app_id}.Arn}}"
    assert sorted(s["WatchAndCancelJobRun"]["Action"]) == [
        "emr-serverless:CancelJobRun",
        "emr-serverless:GetJobRun",
    ]
    assert resolve_join(s["WatchAndCancelJobRun"]["Resource"]) == f"${{{app_id}.Arn}}/jobruns/*"
    assert s["PassJobRole"]["Action"] == "iam:PassRole"
    assert s["PassJobRole"]["Resource"] == {"Fn::GetAtt": [job_role, "Arn"]}
    assert s["PassJobRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}
    }
    assert sorted(s["ManagedSyncRule"]["Action"]) == [
        "events:DescribeRule",
        "events:PutRule",
        "events:PutTargets",
    ]
    assert resolve_join(s["ManagedSyncRule"]["Resource"]) == (
        f"arn:aws:events:eu-west-3:${{AWS::AccountId}}:rule/{SYNC_MANAGED_RULE}"
    )
    publish = [x for x in s.values() if x["Action"] == "sns:Publish"]
    assert [p["Resource"] for p in publish] == [{"Ref": synth.logical_id(synth.stack.alerts.topic)}]


# -- ingest --------------------------------------------------------------------------------------


def test_uploads_prefix_notifies_the_queue(synth) -> None:
    """App uploads and curated data notify the queue; the app's staged photos (incoming/) never do."""
    queue_id = synth.logical_id(synth.stack.ingest.queue)
    synth.template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": synth.logical_id(synth.stack.storage.ingestion)},
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                        "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]},
                    }
                    for prefix in ("uploads/", "curated/")
                ]
            },
        },
    )


def test_queues_are_encrypted_tls_only_with_a_dead_letter_queue(synth) -> None:
    ingest = synth.stack.ingest
    queue = synth.template_json["Resources"][synth.logical_id(ingest.queue)]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [synth.logical_id(ingest.dead_letter_queue), "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["VisibilityTimeout"] >= 6 * 60
    for queue_policy in synth.resources("AWS::SQS::QueuePolicy").values():
        statements = queue_policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )
    covered = {
        q["Ref"] for p in synth.resources("AWS::SQS::QueuePolicy").values() for q in p["Properties"]["Queues"]
    }
    assert covered == set(synth.resources("AWS::SQS::Queue"))


def test_lambda_batches_with_a_window_and_reports_partial_failures(synth) -> None:
    synth.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [synth.logical_id(synth.stack.ingest.queue), "Arn"]},
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 120,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
    )


def test_ingest_lambda_interface(synth) -> None:
    fn = synth.template_json["Resources"][synth.logical_id(synth.stack.ingest.function)]["Properties"]
    assert fn["Handler"] == "lambdas.ingest.handler.handler"
    assert fn["Runtime"] == "python3.11"
    assert fn["Layers"] == [
        "arn:aws:lambda:eu-west-3:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:"
        f"{synth.config.powertools_layer_version}"
    ]
    env = fn["Environment"]["Variables"]
    assert env["STATE_MACHINE_ARN"] == {"Ref": synth.logical_id(synth.stack.orchestration.state_machine)}
    assert env["MANIFEST_BUCKET"] == {"Ref": synth.logical_id(synth.stack.storage.artifacts)}
    assert env["MANIFEST_PREFIX"] == "manifests/"
    assert env["UPLOADS_PREFIX"] == "uploads/"
    assert env["CURATED_PREFIX"] == "curated/"
    assert env["MAX_OBJECT_BYTES"] == "52428800"
    assert set(env) == {
        "STATE_MACHINE_ARN",
        "MANIFEST_BUCKET",
        "MANIFEST_PREFIX",
        "UPLOADS_PREFIX",
        "CURATED_PREFIX",
        "MAX_OBJECT_BYTES",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
    }


def test_ingest_lambda_iam_is_least_privilege(synth) -> None:
    role_id = synth.logical_id(synth.stack.ingest.role)
    artifacts = synth.logical_id(synth.stack.storage.artifacts)
    statements = policy_statements(synth.template_json, role_id)
    by_action: dict[str, list[str]] = {}
    for s in statements:
        for action in as_list(s["Action"]):
            by_action.setdefault(action, []).extend(resolve_join(r) for r in as_list(s["Resource"]))
    assert by_action["s3:PutObject"] == [f"${{{artifacts}.Arn}}/manifests/*"]
    assert by_action["states:StartExecution"] == [
        "${" + synth.logical_id(synth.stack.orchestration.state_machine) + "}"
    ]
    queue = f"${{{synth.logical_id(synth.stack.ingest.queue)}.Arn}}"
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert by_action[action] == [queue]
    assert not [a for a in by_action if a.startswith("s3:") and a != "s3:PutObject"]
    role = synth.template_json["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role


# -- monitoring ----------------------------------------------------------------------------------


def test_alarms_on_dlq_failed_executions_and_lambda_errors_notify_the_topic(synth) -> None:
    topic = {"Ref": synth.logical_id(synth.stack.alerts.topic)}
    answer_alarms = {
        synth.logical_id(a) for a in synth.stack.answer.alarms.values()
    }  # tests/cdk/test_answer.py
    alarms = [a for k, a in synth.resources("AWS::CloudWatch::Alarm").items() if k not in answer_alarms]
    by_metric = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"] for a in alarms
    }
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in by_metric
    assert ("AWS/States", "ExecutionsFailed") in by_metric
    assert ("AWS/Lambda", "Errors") in by_metric
    dlq = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    assert dlq["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": [synth.logical_id(synth.stack.ingest.dead_letter_queue), "QueueName"]},
        }
    ]
    for props in by_metric.values():
        assert props["AlarmActions"] == [topic]
        assert props["Threshold"] == 1


def test_topic_is_tls_only(synth) -> None:
    synth.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def test_monthly_budget_with_the_configured_amount(synth) -> None:
    synth.template.has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": {
                "BudgetType": "COST",
                "TimeUnit": "MONTHLY",
                "BudgetLimit": {"Amount": 50, "Unit": "USD"},
            },
            "NotificationsWithSubscribers": Match.array_with(
                [
                    Match.object_like(
                        {"Subscribers": [{"SubscriptionType": "SNS", "Address": {"Ref": Match.any_value()}}]}
                    )
                ]
            ),
        },
    )


# -- IAM in general ------------------------------------------------------------------------------


def test_no_policy_allows_every_action(synth) -> None:
    for statement in policy_statements(synth.template_json):
        actions = as_list(statement.get("Action", []))
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement


def test_resource_wildcards_only_for_apis_without_resource_level_permissions(synth) -> None:
    allowed = {
        "cognito-identity:DeleteIdentities",  # no resource type (cdk_app/erasure.py)
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
    for statement in policy_statements(synth.template_json):
        if "*" in as_list(statement.get("Resource", [])):
            assert set(as_list(statement["Action"])) <= allowed, statement


def test_outputs_name_the_entry_points(synth) -> None:
    assert {"IngestionBucket", "UploadsPrefix", "ResultsBucket", "ArtifactsBucket", "StateMachineArn"} <= set(
        synth.template_json["Outputs"]
    )


# -- refit workflow and catalog --------------------------------------------------------------------


def test_the_refit_runs_fit_promote_backfill_train_promote_in_order(synth) -> None:
    refit = machine_definition(synth, "fruits-pca-refit")
    order, state = [], refit["StartAt"]
    while refit["States"][state]["Type"] == "Task" and "emr-serverless" in refit["States"][state]["Resource"]:
        order.append(state)
        state = refit["States"][state]["Next"]
    assert order == ["FitPca", "PromotePca", "BackfillPca", "TrainClassifier", "PromoteClassifier"]
    assert refit["States"][state]["Type"] == "Succeed"
    artifacts = synth.logical_id(synth.stack.storage.artifacts)
    results = synth.logical_id(synth.stack.storage.results)
    args = {
        s: refit["States"][s]["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments"] for s in order
    }
    for state in order:  # every job gets the stack's region explicitly
        assert args[state][-2:] == ["--region", "eu-west-3"]
        args[state] = args[state][:-2]
    store, pca = f"s3://${{{results}}}/features-store", f"s3://${{{artifacts}}}/pca-models"
    assert args["FitPca"] == ["pca", "fit", "--store", store, "--pca-model-dir", pca, "--min-images", "1000"]
    assert args["PromotePca"] == ["pca", "promote", "--pca-model-dir", pca]
    assert args["BackfillPca"] == ["pca", "backfill", "--store", store, "--pca-model-dir", pca]
    assert (
        args["TrainClassifier"][:2] == ["classifier", "train"]
        and "--min-per-class" in args["TrainClassifier"]
    )
    for state in order:  # the same retries and failure alert as the feature job
        task = refit["States"][state]
        assert task["Retry"][0]["ErrorEquals"] == TRANSIENT_ERRORS
        assert refit["States"][task["Catch"][0]["Next"]]["Resource"].endswith("sns:publish")
        assert task["Parameters"]["Name.$"] == f"States.Format('{{}}-{state.lower()}', $$.Execution.Name)"
        params = task["Parameters"]["JobDriver"]["SparkSubmit"]["SparkSubmitParameters"]
        assert "--conf spark.driver.cores=2 --conf spark.driver.memory=12g" in params  # the larger driver
        assert "--conf spark.executor.cores=2" in params


def test_the_refit_is_on_demand_by_default_and_scheduled_when_asked(synth, tmp_path) -> None:
    assert not synth.resources("AWS::Scheduler::Schedule")
    weekly = synthesize(tmp_path / "weekly", {"refit_schedule": "rate(7 days)"}, nag=True)
    (schedule,) = weekly.resources("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(7 days)"
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    (statement,) = policy_statements(weekly.template_json, role_id)
    assert statement["Action"] == "states:StartExecution"
    refit = weekly.logical_id(weekly.stack.refit.state_machine)
    assert statement["Resource"] == {"Ref": refit}


def test_the_catalog_declares_the_datasets_the_job_writes(synth) -> None:
    from spark_app.core import schema

    (database,) = synth.resources("AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == "fruits_features"
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in synth.resources("AWS::Glue::Table").values()
    }
    assert set(tables) == {"features", "errors", "corrections"}  # corrections: test_corrections_cdk.py
    results = synth.logical_id(synth.stack.storage.results)
    for name in schema.DATASETS:
        table, sd = tables[name], tables[name]["StorageDescriptor"]
        assert resolve_join(sd["Location"]) == f"s3://${{{results}}}/features-store/{name}/"
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == list(schema.DATASETS[name])
        assert table["PartitionKeys"] == [{"Name": "batch_id", "Type": "string"}]
        assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
