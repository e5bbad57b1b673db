"""The documented platform requests (``platform_requests.json``), filled in for one synthesized stack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cdk_app.orchestration import SYNC_MANAGED_RULE
from tests.conformance.requests import IamRequest, ecr_repository_arn
from tests.e2e.cdk_stack import StackSpec, TemplateResolver

DATA = Path(__file__).resolve().parent / "platform_requests.json"
#: Ids used where AWS would generate them (a job run, a batch).
EXAMPLE_JOB_RUN = "00fruitsjobrun0001"
EXAMPLE_BATCH = "batch-20261124T000000Z-0123abcd"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def placeholders(
    spec: StackSpec, template: dict[str, Any], images_template: dict[str, Any]
) -> dict[str, str]:
    """Values for every ``{name}`` in the data file, read from the synthesized templates."""
    resolver = TemplateResolver(template, account=spec.account, region=spec.region)
    images = TemplateResolver(images_template, account=spec.account, region=spec.region)
    (app,) = resolver.of_type("AWS::EMRServerless::Application")
    emr_roles = [
        logical
        for logical, props in resolver.of_type("AWS::IAM::Role").items()
        if any(
            s["Principal"].get("Service") == "emr-serverless.amazonaws.com"
            for s in props["AssumeRolePolicyDocument"]["Statement"]
        )
    ]
    roles = resolver.of_type("AWS::IAM::Role")
    (erasure_role,) = [r for r in emr_roles if "erasure" in roles[r].get("Description", "")]
    (job_role,) = [r for r in emr_roles if r != erasure_role]
    (table,) = resolver.of_type("AWS::DynamoDB::Table").values()
    (topic,) = resolver.of_type("AWS::SNS::Topic")
    (log_group,) = [
        logical
        for logical, props in resolver.of_type("AWS::Logs::LogGroup").items()
        if props.get("LogGroupName") == f"/aws/lambda/{spec.names.ingest_function}"
    ]
    (answer_log_group,) = [
        logical
        for logical, props in resolver.of_type("AWS::Logs::LogGroup").items()
        if props.get("LogGroupName") == f"/aws/lambda/{spec.names.answer_function}"
    ]
    answer_rule, _ = resolver.find("AWS::Events::Rule", "Name", spec.names.answer_rule)
    answer_function, _ = resolver.find("AWS::Lambda::Function", "FunctionName", spec.names.answer_function)
    answer_dlq, _ = resolver.find("AWS::SQS::Queue", "QueueName", spec.names.answer_dlq)
    (repo_props,) = images.of_type("AWS::ECR::Repository").values()
    config, names = spec.config, spec.names
    return {
        "account": spec.account,
        "region": spec.region,
        "ingestion_bucket": names.ingestion_bucket,
        "results_bucket": names.results_bucket,
        "artifacts_bucket": names.artifacts_bucket,
        "access_logs_bucket": names.access_logs_bucket,
        "features_root": config.features_prefix.rstrip("/"),
        "pca_root": config.pca_models_prefix.rstrip("/"),
        "uploads_prefix": config.uploads_prefix,
        "code_prefix": config.code_prefix,
        "models_prefix": config.models_prefix,
        "emr_logs_prefix": config.emr_logs_prefix,
        "batch": EXAMPLE_BATCH,
        "job": EXAMPLE_JOB_RUN,
        "application_id": resolver.get_att(app, "ApplicationId"),
        "application_arn": resolver.get_att(app, "Arn"),
        "job_role_arn": resolver.get_att(job_role, "Arn"),
        "erasure_role_arn": resolver.get_att(erasure_role, "Arn"),
        "identity_table_arn": f"arn:aws:dynamodb:{spec.region}:{spec.account}:table/{table['TableName']}",
        "staging_prefix": config.staging_prefix,
        "curated_prefix": config.curated_prefix,
        "answers_prefix": config.answers_prefix,
        "manifests_prefix": config.manifests_prefix,
        "managed_rule_arn": f"arn:aws:events:{spec.region}:{spec.account}:rule/{SYNC_MANAGED_RULE}",
        "topic_arn": resolver.ref(topic),
        "queue_arn": spec.upload_queue.arn,
        "ingest_log_group": resolver.get_att(log_group, "Arn").removesuffix(":*"),
        "answer_log_group": resolver.get_att(answer_log_group, "Arn").removesuffix(":*"),
        "answer_function_arn": resolver.get_att(answer_function, "Arn"),
        "answer_rule_arn": resolver.get_att(answer_rule, "Arn"),
        "answer_dlq_arn": resolver.get_att(answer_dlq, "Arn"),
        "repository_arn": ecr_repository_arn(spec.region, spec.account, repo_props["RepositoryName"]),
        "budget": names.budget,
        "state_machine": names.state_machine,
        "refit_state_machine": names.refit_state_machine,
        "glue_database": names.glue_database,
    }


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    return value


def platform_requests(values: dict[str, str], data: Path = DATA) -> tuple[list[IamRequest], list[IamRequest]]:
    """(requests that must be allowed, requests that must be denied), filled in."""
    document = json.loads(data.read_text())
    allowed: list[IamRequest] = []
    denied: list[IamRequest] = []
    for entry in document["requests"]:
        source = document["sources"].get(entry["source"], entry["source"])
        request = IamRequest(
            principal=_fill(entry["principal"], values),
            action=entry["action"],
            resource=_fill(entry["resource"], values),
            context=_fill(entry["context"], values),
            source=f"{entry['id']} ({entry.get('confidence', 'negative case')}): {source}",
        )
        (allowed if entry["expect"] == "allow" else denied).append(request)
    return allowed, denied
