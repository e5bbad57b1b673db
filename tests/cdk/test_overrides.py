"""Context overrides reach the template (a second, differently configured synthesis)."""

from __future__ import annotations

import json

import pytest
from cdk_helpers import resolve_join, synthesize


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    return synthesize(
        tmp_path_factory.mktemp("cdk-custom"),
        {
            "region": "eu-central-1",
            "name_prefix": "fruits-test",
            "upload_retention_days": "3",
            "emr_max_vcpu": "64",
            "emr_max_memory_gb": "256",
            "emr_idle_timeout_minutes": "2",
            "batch_window_seconds": "20",
            "batch_size": "500",
            "budget_monthly_usd": "12.5",
            "alert_email": "ops@example.com",
            "job_timeout_minutes": "45",
        },
    )


def test_settings_from_context_reach_the_resources(custom) -> None:
    template, t = custom.template, custom.template_json
    ingestion = t["Resources"][custom.logical_id(custom.stack.storage.ingestion)]["Properties"]
    assert resolve_join(ingestion["BucketName"]) == "fruits-test-ingestion-${AWS::AccountId}-eu-central-1"
    assert {"Id": "expire-raw-uploads", "Prefix": "uploads/", "ExpirationInDays": 3, "Status": "Enabled"} in (
        ingestion["LifecycleConfiguration"]["Rules"]
    )
    template.has_resource_properties(
        "AWS::EMRServerless::Application",
        {
            "MaximumCapacity": {"Cpu": "64 vCPU", "Memory": "256 GB", "Disk": "640 GB"},
            "AutoStopConfiguration": {"Enabled": True, "IdleTimeoutMinutes": 2},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 500, "MaximumBatchingWindowInSeconds": 20}
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    budget = next(iter(custom.resources("AWS::Budgets::Budget").values()))["Properties"]
    assert budget["Budget"]["BudgetLimit"] == {"Amount": 12.5, "Unit": "USD"}
    assert {"SubscriptionType": "EMAIL", "Address": "ops@example.com"} in (
        budget["NotificationsWithSubscribers"][0]["Subscribers"]
    )
    fn = t["Resources"][custom.logical_id(custom.stack.ingest.function)]["Properties"]
    assert fn["Layers"][0].startswith("arn:aws:lambda:eu-central-1:017000801446:layer:")
    (machine,) = custom.resources("AWS::StepFunctions::StateMachine").values()
    definition = json.loads(resolve_join(machine["Properties"]["DefinitionString"]))
    assert definition["States"]["RunFeatureJob"]["Parameters"]["ExecutionTimeoutMinutes"] == 45


def test_the_stack_is_deployed_to_the_configured_region(custom) -> None:
    assert custom.stack.region == "eu-central-1"
