"""The Answer construct: S3 -> EventBridge -> the answer Lambda (container image), its failure path, IAM."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cdk_helpers import as_list, policy_statements, resolve_join

from cdk_app.answer import HANDLER, REGISTRY_KEYS
from cdk_app.answer_props import AnswerProps
from cdk_app.config import ConfigError


def _props(synth, construct: Any) -> dict[str, Any]:
    return synth.template_json["Resources"][synth.logical_id(construct)]["Properties"]


def _arn(synth, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(construct), "Arn"]}


def test_the_rule_matches_objects_created_under_the_uploads_prefix_of_the_ingestion_bucket(synth) -> None:
    rule = _props(synth, synth.stack.answer.rule)
    assert rule["Name"] == "fruits-answer-uploads" and rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": synth.logical_id(synth.stack.storage.ingestion)}]},
            "object": {"key": [{"prefix": "uploads/"}]},
        },
    }
    # The bucket delivers to EventBridge and still notifies the upload queue (the batch path).
    (notifications,) = synth.resources("Custom::S3BucketNotifications").values()
    configuration = notifications["Properties"]["NotificationConfiguration"]
    assert configuration["EventBridgeConfiguration"] == {}
    assert [q["Filter"]["Key"]["FilterRules"] for q in configuration["QueueConfigurations"]] == [
        [{"Name": "prefix", "Value": "uploads/"}],
        [{"Name": "prefix", "Value": "curated/"}],
    ]


def test_failed_deliveries_and_invocations_are_retried_then_dead_lettered(synth) -> None:
    answer = synth.stack.answer
    (target,) = _props(synth, answer.rule)["Targets"]
    assert target["Arn"] == _arn(synth, answer.function)
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 300, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": _arn(synth, answer.dead_letter_queue)}
    (invoke,) = synth.resources("AWS::Lambda::EventInvokeConfig").values()
    assert invoke["Properties"]["MaximumRetryAttempts"] == 2
    assert invoke["Properties"]["MaximumEventAgeInSeconds"] == 300
    assert _props(synth, answer.function)["DeadLetterConfig"] == {
        "TargetArn": _arn(synth, answer.dead_letter_queue)
    }
    # EventBridge may invoke the function and fill the queue, for this rule only.
    rule_arn = _arn(synth, answer.rule)
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == _arn(synth, answer.function)
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": _arn(synth, answer.function),
            "Principal": "events.amazonaws.com",
            "SourceArn": rule_arn,
        }
    ]
    queue = synth.logical_id(answer.dead_letter_queue)
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    (send,) = [s for s in policy if s["Effect"] == "Allow"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}


def test_the_function_is_the_image_with_the_settings_of_the_props(synth) -> None:
    fn = _props(synth, synth.stack.answer.function)
    assert fn["PackageType"] == "Image" and fn["ImageConfig"] == {"Command": [HANDLER]}
    assert "/fruits-spark-image:" in resolve_join(fn["Code"]["ImageUri"])
    assert (fn["FunctionName"], fn["MemorySize"], fn["Architectures"]) == ("fruits-answer", 1769, ["x86_64"])
    assert (fn["Timeout"], fn["ReservedConcurrentExecutions"]) == (30, 10)
    env = fn["Environment"]["Variables"]
    results, artifacts = (
        synth.logical_id(b) for b in (synth.stack.storage.results, synth.stack.storage.artifacts)
    )
    assert resolve_join(env["ANSWERS_ROOT"]) == f"s3://${{{results}}}/answers"
    assert resolve_join(env["PCA_MODEL_DIR"]) == f"s3://${{{artifacts}}}/pca-models"
    assert resolve_join(env["CLASSIFIER_DIR"]) == f"s3://${{{artifacts}}}/classifiers"
    assert (env["UPLOADS_PREFIX"], env["MAX_OBJECT_BYTES"]) == ("uploads/", "52428800")
    assert (env["CONFIDENCE_THRESHOLD"], env["MODELS_TTL_SECONDS"]) == ("0.5", "60")
    assets = json.loads(next(synth.outdir.glob("FruitsPipeline.assets.json")).read_text())
    (image,) = [i for i in assets["dockerImages"].values() if "answer" in i["source"]["dockerFile"]]
    assert image["source"]["dockerFile"] == "docker/answer-lambda.Dockerfile"
    assert image["source"]["platform"] == "linux/amd64"


def test_the_role_reads_uploads_and_promoted_models_and_writes_answers_only(synth) -> None:
    answer, storage = synth.stack.answer, synth.stack.storage
    role_id = synth.logical_id(answer.role)
    grants: dict[str, set[str]] = {}
    for statement in policy_statements(synth.template_json, role_id):
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(resolve_join(r) for r in as_list(statement["Resource"]))
    ingestion, results, artifacts = (
        synth.logical_id(b) for b in (storage.ingestion, storage.results, storage.artifacts)
    )
    registries = {
        f"${{{artifacts}.Arn}}/{r}{k}" for r in ("pca-models/", "classifiers/") for k in REGISTRY_KEYS
    }
    assert grants == {
        "logs:CreateLogStream": {f"${{{synth.logical_id(answer.log_group)}.Arn}}"},
        "logs:PutLogEvents": {f"${{{synth.logical_id(answer.log_group)}.Arn}}"},
        "s3:GetObject": {f"${{{ingestion}.Arn}}/uploads/*", *registries},
        # The erasure's tombstones (listed by exact key) and an erased identity's answer (cdk_app/erasure.py).
        "s3:ListBucket": {f"${{{artifacts}.Arn}}", f"${{{results}.Arn}}"},
        "s3:DeleteObject": {f"${{{results}.Arn}}/answers/uploads/*:*/*"},
        "s3:PutObject": {f"${{{results}.Arn}}/answers/*"},
        "sqs:SendMessage": {f"${{{synth.logical_id(answer.dead_letter_queue)}.Arn}}"},
    }
    assert "ManagedPolicyArns" not in synth.template_json["Resources"][role_id]["Properties"]


def test_errors_and_dead_letters_raise_alarms_to_the_topic(synth) -> None:
    answer = synth.stack.answer
    alarms = {name: _props(synth, alarm) for name, alarm in answer.alarms.items()}
    errors, dead = alarms["AnswerErrors"], alarms["AnswerDeadLetters"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": synth.logical_id(answer.function)}}
    ]
    assert (dead["MetricName"], dead["Statistic"]) == ("ApproximateNumberOfMessagesVisible", "Maximum")
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": synth.logical_id(synth.stack.alerts.topic)}]
        assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"


def test_the_repository_lets_lambda_pull_for_the_answer_function_and_keeps_the_images_in_use(synth) -> None:
    images = json.loads((synth.outdir / f"{synth.stack.images.stack_name}.template.json").read_text())
    (repo,) = [r["Properties"] for r in images["Resources"].values() if r["Type"] == "AWS::ECR::Repository"]
    statements = {s["Sid"]: s for s in repo["RepositoryPolicyText"]["Statement"]}
    pull = statements["LambdaContainerImages"]
    assert pull["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert sorted(pull["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    (source,) = pull["Condition"]["StringLike"]["aws:SourceArn"]
    assert resolve_join(source) == "arn:aws:lambda:eu-west-3:${AWS::AccountId}:function:fruits-answer"
    rules = json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    protected = [r["selection"]["tagPrefixList"] for r in rules if r["selection"]["tagStatus"] == "tagged"]
    assert protected == [[tag] for tag in synth.stack.image_tags()]
    assert all(r["selection"]["countNumber"] == 1 for r in rules[:-1])
    assert rules[-1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}
    assert rules[-1]["rulePriority"] == max(r["rulePriority"] for r in rules)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("answer_memory_mb", 64, "answer_memory_mb must be between 128 and 10240"),
        ("answer_architecture", "riscv", "answer_architecture 'riscv' must be one of x86_64, arm64"),
        ("answer_invoke_retries", 3, "answer_invoke_retries must be between 0 and 2"),
        ("answer_delivery_retries", 186, "answer_delivery_retries must be between 0 and 185"),
        ("answer_max_event_age_seconds", 30, "answer_max_event_age_seconds must be between 60 and 21600"),
        ("answer_max_concurrency", 0, "answer_max_concurrency must be between 1 and 1000"),
        ("confidence_threshold", 0.0, r"confidence_threshold must be in \(0, 1\]"),
        ("uploads_prefix", "uploads", "uploads_prefix 'uploads' must be a key prefix"),
    ],
)
def test_invalid_props_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(AnswerProps(), **{field: value})
