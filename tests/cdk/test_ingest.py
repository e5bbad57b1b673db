"""IngestProps: defaults, validation, and the queues and Lambda the Ingest construct derives from them."""

from __future__ import annotations

import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from cdk_helpers import probe

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.ingest import Ingest
from cdk_app.ingest_props import IngestProps, powertools_layer_arn


def test_defaults_are_the_configuration_defaults() -> None:
    props = IngestProps()
    assert props == PipelineConfig().ingest_props()
    assert (props.queue_name, props.dead_letter_queue_name, props.function_name) == (
        "fruits-uploads",
        "fruits-uploads-dlq",
        "fruits-ingest",
    )
    assert (props.batch_window_seconds, props.batch_size, props.ingest_max_concurrency) == (120, 1000, 2)
    assert props.visibility_timeout_seconds == 6 * 60 + 120


def test_powertools_layer_is_the_aws_managed_python311_v3_layer() -> None:
    assert powertools_layer_arn("eu-west-1", 7) == (
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_window_seconds": 301}, "batch_window_seconds must be between 0 and 300"),
        ({"batch_window_seconds": -1}, "batch_window_seconds must be between 0 and 300"),
        ({"batch_size": 0}, "batch_size must be between 1 and 10000"),
        ({"batch_size": 10001}, "batch_size must be between 1 and 10000"),
        (
            {"batch_size": 100, "batch_window_seconds": 0},
            "batch_size above 10 needs batch_window_seconds >= 1",
        ),
        ({"ingest_max_concurrency": 1}, "ingest_max_concurrency must be between 2 and 1000"),
        ({"ingest_timeout_seconds": 901}, "ingest_timeout_seconds must be between 1 and 900"),
        ({"dlq_max_receive_count": 0}, "dlq_max_receive_count must be between 1 and 1000"),
        ({"max_object_bytes": 0}, "max_object_bytes must be positive"),
        ({"powertools_layer_version": 0}, "powertools_layer_version must be positive"),
        ({"powertools_log_level": "LOUD"}, "powertools_log_level 'LOUD' must be one of DEBUG, INFO"),
        ({"log_retention_days": 0}, "log_retention_days must be positive"),
        ({"uploads_prefix": "uploads"}, "uploads_prefix 'uploads' must be a key prefix"),
        ({"queue_name": "my queue"}, "queue_name 'my queue' must be 1-80 characters"),
        ({"function_name": "f" * 65}, "function_name .* must be 1-64 characters"),
    ],
)
def test_invalid_props_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IngestProps(**overrides)


def test_small_batches_need_no_window_and_log_levels_are_any_case() -> None:
    assert IngestProps(batch_size=10, batch_window_seconds=0).batch_size == 10
    assert IngestProps(powertools_log_level="debug").powertools_log_level == "debug"


def test_queues_lambda_and_event_source_follow_the_props() -> None:
    props = IngestProps(
        queue_name="q",
        dead_letter_queue_name="dlq",
        function_name="fn",
        state_machine_name="machine",
        uploads_prefix="in/",
        manifests_prefix="lists/",
        max_object_bytes=1234,
        batch_window_seconds=30,
        batch_size=50,
        ingest_max_concurrency=5,
        ingest_timeout_seconds=20,
        dlq_max_receive_count=3,
        powertools_layer_version=9,
        powertools_log_level="DEBUG",
        log_retention_days=14,
    )

    def build(stack):
        machine = sfn.StateMachine(
            stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Pass"))
        )
        ingestion, artifacts = s3.Bucket(stack, "Ingestion"), s3.Bucket(stack, "Artifacts")
        return Ingest(stack, "Ingest", props, ingestion=ingestion, artifacts=artifacts, state_machine=machine)

    p = probe(build, region="eu-north-1")
    ingest = p.construct
    queue = p.properties(ingest.queue)
    assert (queue["QueueName"], queue["VisibilityTimeout"]) == ("q", 6 * 20 + 30)
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert p.properties(ingest.dead_letter_queue)["QueueName"] == "dlq"
    function = p.properties(ingest.function)
    assert (function["FunctionName"], function["Timeout"]) == ("fn", 20)
    assert function["Layers"] == [powertools_layer_arn("eu-north-1", 9)]
    env = function["Environment"]["Variables"]
    assert (env["UPLOADS_PREFIX"], env["MANIFEST_PREFIX"], env["MAX_OBJECT_BYTES"]) == (
        "in/",
        "lists/",
        "1234",
    )
    assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    p.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 50, "MaximumBatchingWindowInSeconds": 30, "ScalingConfig": {"MaximumConcurrency": 5}},
    )
    p.template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/fn", "RetentionInDays": 14}
    )
    (notification,) = p.resources("Custom::S3BucketNotifications").values()
    rules = notification["Properties"]["NotificationConfiguration"]["QueueConfigurations"][0]["Filter"]
    assert rules == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}
    executions = [s for s in p.template_json["Resources"].values() if s["Type"] == "AWS::IAM::Policy"]
    statements = [st for policy in executions for st in policy["Properties"]["PolicyDocument"]["Statement"]]
    (describe,) = [s for s in statements if s.get("Sid") == "ReadBatchExecutions"]
    assert ":execution:machine:*" in str(describe["Resource"])
