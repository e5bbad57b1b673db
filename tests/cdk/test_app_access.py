"""AppAccessProps and the AppAccess construct: identity pool, roles, HTTP API, its Lambda, identity table."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_s3 as s3
from cdk_helpers import as_list, policy_statements, probe, resolve_join

from cdk_app.app_access import ACCESS_LOG_FORMAT, AppAccess, route_resource
from cdk_app.app_access_props import AppAccessProps
from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.stack_props import PipelineProps
from cdk_app.storage_props import StorageProps
from lambdas.app_api import config as app_env

COGNITO = "cognito-identity.amazonaws.com"


def test_defaults_are_the_configuration_defaults() -> None:
    props = AppAccessProps()
    assert props == PipelineConfig().app_access_props()
    assert (props.identity_pool_name, props.api_name, props.identity_table_name) == (
        "fruits-app",
        "fruits-app-api",
        "fruits-app-identities",
    )
    assert (props.upload_grant_seconds, props.uploads_per_identity, props.quota_window_seconds) == (
        300,
        60,
        3600,
    )
    assert props.max_object_bytes == 52428800


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"staging_prefix": "uploads/"}, "must not contain each other"),
        ({"staging_prefix": "uploads/staged/"}, "must not contain each other"),
        ({"upload_grant_seconds": 5}, "upload_grant_seconds must be between 10 and 3600"),
        ({"quota_window_seconds": 30}, "quota_window_seconds must be between 60 and 86400"),
        ({"uploads_per_identity": 0}, "uploads_per_identity must be between 1 and 100000"),
        ({"app_api_timeout_seconds": 30}, "app_api_timeout_seconds must be between 1 and 29"),
        ({"app_api_rate_limit": 0}, "app_api_rate_limit must be between 1 and 10000"),
        ({"identity_pool_name": "fruits/app"}, "identity_pool_name 'fruits/app' must be"),
        ({"identity_table_name": "ab"}, "identity_table_name 'ab' must be"),
        ({"powertools_log_level": "LOUD"}, "powertools_log_level 'LOUD' must be one of"),
    ],
)
def test_invalid_props_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AppAccessProps(**overrides)


def test_uploads_curated_and_staged_prefixes_must_be_apart() -> None:
    with pytest.raises(
        ConfigError, match="staging_prefix 'uploads/x/' and uploads_prefix 'uploads/' must not"
    ):
        PipelineConfig(staging_prefix="uploads/x/")
    with pytest.raises(ConfigError, match="curated_prefix 'uploads/curated/' lies under uploads_prefix"):
        PipelineConfig(curated_prefix="uploads/curated/")
    with pytest.raises(ConfigError, match="curated_prefix 'incoming/c/' lies under staging_prefix"):
        PipelineConfig(curated_prefix="incoming/c/")
    with pytest.raises(ConfigError, match="staging_prefix must be the same"):
        PipelineProps(storage=StorageProps(staging_prefix="other/"))


def test_route_keys_become_execute_api_paths() -> None:
    assert [route_resource(key) for key in app_env.ROUTES] == [
        ("POST", "/photos"),
        ("POST", "/photos/*/commit"),
        ("POST", "/photos/*/correction"),
        ("DELETE", "/me"),
    ]


@pytest.fixture(scope="module")
def custom():
    props = AppAccessProps(
        identity_pool_name="pool-x",
        api_name="api-x",
        function_name="fn-x",
        identity_table_name="table-x",
        uploads_prefix="in/",
        staging_prefix="staged/",
        answers_prefix="replies/",
        features_prefix="store/",
        classifiers_prefix="heads/",
        max_object_bytes=1000,
        upload_grant_seconds=60,
        uploads_per_identity=7,
        quota_window_seconds=120,
        app_api_rate_limit=3,
        app_api_burst_limit=6,
        app_api_timeout_seconds=12,
    )

    def build(stack):
        buckets = {
            name: s3.Bucket(stack, name.capitalize()) for name in ("ingestion", "results", "artifacts")
        }
        return AppAccess(stack, "AppAccess", props, **buckets)

    return probe(build)


def _statements(probe_result, role) -> dict[str, dict]:
    logical = probe_result.stack.get_logical_id(role.node.default_child)
    return {s["Sid"]: s for s in policy_statements(probe_result.template_json, logical)}


def test_the_pool_has_guest_identities_and_no_basic_flow(custom) -> None:
    (pool,) = custom.resources("AWS::Cognito::IdentityPool").values()
    assert pool["Properties"] | {"IdentityPoolTags": None} == {
        "IdentityPoolName": "pool-x",
        "AllowUnauthenticatedIdentities": True,
        "AllowClassicFlow": False,
        "IdentityPoolTags": None,
    }
    (attachment,) = custom.resources("AWS::Cognito::IdentityPoolRoleAttachment").values()
    app = custom.construct
    assert attachment["Properties"]["Roles"] == {
        "unauthenticated": {
            "Fn::GetAtt": [custom.stack.get_logical_id(app.guest_role.node.default_child), "Arn"]
        },
        "authenticated": {
            "Fn::GetAtt": [custom.stack.get_logical_id(app.signed_in_role.node.default_child), "Arn"]
        },
    }


@pytest.mark.parametrize(
    ("role", "amr"), [("guest_role", "unauthenticated"), ("signed_in_role", "authenticated")]
)
def test_each_app_role_trusts_only_this_pool_and_its_kind_of_identity(custom, role: str, amr: str) -> None:
    pool = custom.stack.get_logical_id(custom.construct.identity_pool)
    trust = custom.properties(getattr(custom.construct, role))["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": COGNITO},
            "Condition": {
                "StringEquals": {f"{COGNITO}:aud": {"Ref": pool}},
                "ForAnyValue:StringLike": {f"{COGNITO}:amr": amr},
            },
        }
    ]
    assert custom.properties(getattr(custom.construct, role))["MaxSessionDuration"] == 3600


def test_the_app_may_call_the_four_routes_and_read_its_own_answers_only(custom) -> None:
    app = custom.construct
    guest, signed_in = _statements(custom, app.guest_role), _statements(custom, app.signed_in_role)
    assert guest == signed_in and set(guest) == {"CallAppRoutes", "ReadOwnAnswers", "ListOwnAnswers"}
    api = custom.stack.get_logical_id(app.api.node.default_child)
    assert sorted(resolve_join(r) for r in guest["CallAppRoutes"]["Resource"]) == [
        f"arn:aws:execute-api:eu-west-3:${{AWS::AccountId}}:${{{api}}}/$default/DELETE/me",
        f"arn:aws:execute-api:eu-west-3:${{AWS::AccountId}}:${{{api}}}/$default/POST/photos",
        f"arn:aws:execute-api:eu-west-3:${{AWS::AccountId}}:${{{api}}}/$default/POST/photos/*/commit",
        f"arn:aws:execute-api:eu-west-3:${{AWS::AccountId}}:${{{api}}}/$default/POST/photos/*/correction",
    ]
    own = f"replies/in/${{{COGNITO}:sub}}/*"
    assert guest["ReadOwnAnswers"]["Action"] == "s3:GetObject"
    assert resolve_join(guest["ReadOwnAnswers"]["Resource"]).endswith(f".Arn}}/{own}")
    assert guest["ListOwnAnswers"]["Action"] == "s3:ListBucket"
    assert guest["ListOwnAnswers"]["Condition"] == {"StringLike": {"s3:prefix": [own]}}
    actions = {a for s in guest.values() for a in as_list(s["Action"])}
    assert actions == {"execute-api:Invoke", "s3:GetObject", "s3:ListBucket"}


def test_the_lambda_signs_checks_and_commits_under_its_prefixes_only(custom) -> None:
    s = _statements(custom, custom.construct.function_role)
    resources = {
        sid: sorted(resolve_join(r).split("}/")[-1] for r in as_list(st["Resource"])) for sid, st in s.items()
    }
    assert (
        resources["SignStagedUploads"] == ["staged/*"] and s["SignStagedUploads"]["Action"] == "s3:PutObject"
    )
    assert resources["CheckStagedUploads"] == ["staged/*"]
    assert sorted(s["CheckStagedUploads"]["Action"]) == ["s3:DeleteObject", "s3:GetObject"]
    assert s["FindStagedUploads"]["Condition"] == {"StringLike": {"s3:prefix": ["staged/*"]}}
    assert resources["CommitUploads"] == ["in/*"] and s["CommitUploads"]["Action"] == "s3:PutObject"
    assert sorted(s["CountUploadsAndCommits"]["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert set(s) == {
        "WriteOwnLogs",
        "SignStagedUploads",
        "CheckStagedUploads",
        "FindStagedUploads",
        "CommitUploads",
        "CountUploadsAndCommits",
        *CORRECTION_SIDS,
    }


CORRECTION_SIDS = (
    "ReadAnswersToCorrect",
    "FindAnswersToCorrect",
    "ReadKnownClasses",
    "FindCommittedPhotos",
    "WriteCorrections",
)


def test_the_lambda_reads_answers_and_classes_and_writes_only_corrections(custom) -> None:
    s = _statements(custom, custom.construct.function_role)
    app, stack = custom.construct, custom.stack
    results, artifacts = (
        stack.get_logical_id(stack.node.find_child(name).node.default_child)
        for name in ("Results", "Artifacts")
    )
    granted = {
        sid: (sorted(as_list(s[sid]["Action"])), sorted(resolve_join(r) for r in as_list(s[sid]["Resource"])))
        for sid in CORRECTION_SIDS
    }
    table = custom.stack.get_logical_id(app.identity_table.node.default_child)
    assert granted == {
        "ReadAnswersToCorrect": (["s3:GetObject"], [f"${{{results}.Arn}}/replies/in/*"]),
        "FindAnswersToCorrect": (["s3:ListBucket"], [f"${{{results}.Arn}}"]),
        "ReadKnownClasses": (
            ["s3:GetObject"],
            [f"${{{artifacts}.Arn}}/heads/*/version.json", f"${{{artifacts}.Arn}}/heads/LATEST"],
        ),
        "FindCommittedPhotos": (["dynamodb:GetItem"], [f"${{{table}.Arn}}"]),
        "WriteCorrections": (["s3:PutObject"], [f"${{{results}.Arn}}/store/corrections/*"]),
    }
    assert s["FindAnswersToCorrect"]["Condition"] == {"StringLike": {"s3:prefix": ["replies/in/*"]}}
    # No delete, no read of corrections, features or models, no write of answers.
    assert {a for st in s.values() for a in as_list(st["Action"])} == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
    }
    assert resolve_join(s["CheckStagedUploads"]["Resource"]).endswith("/staged/*")  # the only delete


def test_the_lambda_gets_its_settings_from_the_props(custom) -> None:
    fn = custom.properties(custom.construct.function)
    assert (fn["FunctionName"], fn["Handler"], fn["Timeout"], fn["Runtime"]) == (
        "fn-x",
        "lambdas.app_api.handler.handler",
        12,
        "python3.11",
    )
    env = fn["Environment"]["Variables"]
    assert {k: v for k, v in env.items() if isinstance(v, str)} == {
        app_env.ENV_STAGING_PREFIX: "staged/",
        app_env.ENV_UPLOADS_PREFIX: "in/",
        app_env.ENV_ANSWERS_PREFIX: "replies/",
        app_env.ENV_MAX_OBJECT_BYTES: "1000",
        app_env.ENV_GRANT_SECONDS: "60",
        app_env.ENV_UPLOADS_PER_WINDOW: "7",
        app_env.ENV_QUOTA_WINDOW_SECONDS: "120",
        app_env.ENV_POWERTOOLS_SERVICE_NAME: "fruits-app-api",
        app_env.ENV_POWERTOOLS_LOG_LEVEL: "INFO",
    }
    assert set(env) - {k for k, v in env.items() if isinstance(v, str)} == {
        app_env.ENV_INGESTION_BUCKET,
        app_env.ENV_RESULTS_BUCKET,
        app_env.ENV_IDENTITY_TABLE,
        app_env.ENV_FEATURE_STORE,
        app_env.ENV_CLASSIFIER_DIR,
    }
    assert resolve_join(env[app_env.ENV_FEATURE_STORE]).endswith("}/store")
    assert resolve_join(env[app_env.ENV_CLASSIFIER_DIR]).endswith("}/heads")


def test_routes_need_sigv4_and_the_stage_throttles_the_total(custom) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in custom.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == set(app_env.ROUTES)
    assert {r["AuthorizationType"] for r in routes.values()} == {"AWS_IAM"}
    (stage,) = custom.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert (props["StageName"], props["AutoDeploy"]) == ("$default", True)
    assert props["DefaultRouteSettings"] == {"ThrottlingRateLimit": 3, "ThrottlingBurstLimit": 6}
    assert json.loads(props["AccessLogSettings"]["Format"]) == ACCESS_LOG_FORMAT
    assert not {"$context.identity.sourceIp", "$context.identity.cognitoIdentityId"} & set(
        ACCESS_LOG_FORMAT.values()
    )
    (integration,) = custom.resources("AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    (permission,) = custom.resources("AWS::Lambda::Permission").values()
    assert resolve_join(permission["Properties"]["SourceArn"]).endswith("/*/*")


def test_the_identity_table_is_keyed_by_identity_on_demand_and_expires_items(custom) -> None:
    (table,) = custom.resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TableName"] == "table-x" and props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "identity_id", "KeyType": "HASH"},
        {"AttributeName": "item", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == "Delete"


def test_the_stack_outputs_what_an_app_build_needs(synth) -> None:
    outputs = synth.template_json["Outputs"]
    assert outputs["IdentityPoolId"]["Value"] == {
        "Ref": synth.stack.get_logical_id(synth.stack.app_access.identity_pool)
    }
    assert "execute-api" in resolve_join(outputs["AppApiUrl"]["Value"])
    assert outputs["CuratedPrefix"]["Value"] == "curated/"
