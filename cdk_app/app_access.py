"""AppAccess: the app's door. Cognito guest identities, an IAM-authorized HTTP API and its Lambda.

Each app install gets an identity of the identity pool and short-lived credentials for the guest role
(a signed-in role with the same permissions is ready for a sign-in provider). With them it may only
call the API's routes and read its own answers, ``<answers><uploads><identity id>/*`` of the results
bucket. Photos go in through the API: a presigned POST (signed by the API Lambda's role) to a staged
key, then a commit that checks the content and copies it under the uploads prefix, which the pipeline
ingests. A correction of an answered photo's label is checked against its answer and the promoted
classifier's classes, and written under the feature store's ``corrections/``. The identity table holds
per-identity quota counters and commit records, keyed by identity.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app._util import acknowledge, list_under, log_retention, nag_ref
from cdk_app.app_access_props import AppAccessProps
from cdk_app.ingest import function_log_group, python_function
from lambdas.app_api import config as app_env
from lambdas.app_api import store
from spark_app.core.defaults import CORRECTIONS_DIR
from spark_app.models.registry import LATEST_POINTER, VERSION_FILE

HANDLER = "lambdas.app_api.handler.handler"
COGNITO = "cognito-identity.amazonaws.com"
#: The IAM policy variable holding the caller's identity id (``<region>:<uuid>``).
IDENTITY_VARIABLE = "${cognito-identity.amazonaws.com:sub}"
#: The stage of the API: ``$default`` serves the API at its root URL.
STAGE = "$default"
#: Access log fields: no source IP, no identity id, no path (it holds the photo id).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
}


def route_resource(route_key: str) -> tuple[str, str]:
    """``"POST /photos/{photo_id}/commit"`` -> ``("POST", "/photos/*/commit")`` (an execute-api ARN path)."""
    method, path = route_key.split(" ", 1)
    parts = ["*" if part.startswith("{") else part for part in path.split("/")]
    return method, "/".join(parts)


class AppAccess(Construct):
    """Identity pool and roles, HTTP API (IAM auth, stage throttling), API Lambda, identity table."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: AppAccessProps,
        *,
        ingestion: s3.IBucket,
        results: s3.IBucket,
        artifacts: s3.IBucket,
    ):
        super().__init__(scope, construct_id)
        self.props = props
        self.identity_pool = cognito.CfnIdentityPool(
            self,
            "IdentityPool",
            identity_pool_name=props.identity_pool_name,
            allow_unauthenticated_identities=True,  # guest access: the app works without sign-up
            allow_classic_flow=False,  # the basic flow would let a client choose its role
        )
        self.identity_pool_id: str = self.identity_pool.ref
        self.identity_table = self._identity_table(props)
        self.function = self._function(props, ingestion=ingestion, results=results, artifacts=artifacts)
        self.api, self.stage = self._api(props)
        self.guest_role = self._app_role("GuestRole", "unauthenticated")
        self.signed_in_role = self._app_role("SignedInRole", "authenticated")
        cognito.CfnIdentityPoolRoleAttachment(
            self,
            "Roles",
            identity_pool_id=self.identity_pool_id,
            roles={
                "unauthenticated": self.guest_role.role_arn,
                "authenticated": self.signed_in_role.role_arn,
            },
        )
        self._app_policy(props, results)
        acknowledge(
            self.identity_pool,
            {
                "AwsSolutions-COG7": (
                    "Guest (unauthenticated) identities are the design: the app works without sign-up; their "
                    "role may only call the app API's routes and read its own answers."
                )
            },
        )

    # -- the identity table ---------------------------------------------------------------------

    def _identity_table(self, props: AppAccessProps) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "IdentityTable",
            table_name=props.identity_table_name,
            partition_key=dynamodb.Attribute(name=store.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=store.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,  # bills nothing while idle
            time_to_live_attribute=store.TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,  # counters and records of at most two days
        )
        acknowledge(
            table,
            {
                "AwsSolutions-DDB3": (
                    "Quota counters and commit records expire within two days; point-in-time backups "
                    "would only keep identity-keyed data longer (erasure) with nothing worth restoring."
                )
            },
        )
        return table

    # -- the API Lambda -------------------------------------------------------------------------

    def _function(
        self, props: AppAccessProps, *, ingestion: s3.IBucket, results: s3.IBucket, artifacts: s3.IBucket
    ) -> lambda_.Function:
        stack = Stack.of(self)
        self.log_group = function_log_group(self, props.function_name, props.log_retention_days)
        self.function_role = iam.Role(
            self,
            "FunctionRole",
            description=(
                "App API Lambda: sign upload forms, check and commit staged photos, count uploads, "
                "store corrections"
            ),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        staged = ingestion.arn_for_objects(f"{props.staging_prefix}*")
        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
            # The app's form POST is authorized as this role (the form's signer): staged keys only.
            iam.PolicyStatement(sid="SignStagedUploads", actions=["s3:PutObject"], resources=[staged]),
            iam.PolicyStatement(
                sid="CheckStagedUploads", actions=["s3:GetObject", "s3:DeleteObject"], resources=[staged]
            ),
            list_under("FindStagedUploads", ingestion, [f"{props.staging_prefix}*"]),
            # The commit's copy: write-only under uploads (it never reads what is there).
            iam.PolicyStatement(
                sid="CommitUploads",
                actions=["s3:PutObject"],
                resources=[ingestion.arn_for_objects(f"{props.uploads_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="CountUploadsAndCommits",
                actions=["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
                resources=[self.identity_table.table_arn],
            ),
            *self._correction_statements(props, results=results, artifacts=artifacts),
        ]
        policy = iam.Policy(self, "FunctionPolicy", statements=statements)
        self.function_role.attach_inline_policy(policy)
        function = python_function(
            self,
            function_name=props.function_name,
            description="The app's API: upload grants (presigned POST) and commits of staged photos",
            handler=HANDLER,
            role=self.function_role,
            timeout=Duration.seconds(props.app_api_timeout_seconds),
            log_group=self.log_group,
            powertools_layer_version=props.powertools_layer_version,
            environment={
                app_env.ENV_INGESTION_BUCKET: ingestion.bucket_name,
                app_env.ENV_STAGING_PREFIX: props.staging_prefix,
                app_env.ENV_UPLOADS_PREFIX: props.uploads_prefix,
                app_env.ENV_RESULTS_BUCKET: results.bucket_name,
                app_env.ENV_ANSWERS_PREFIX: props.answers_prefix,
                app_env.ENV_IDENTITY_TABLE: self.identity_table.table_name,
                app_env.ENV_MAX_OBJECT_BYTES: str(props.max_object_bytes),
                app_env.ENV_GRANT_SECONDS: str(props.upload_grant_seconds),
                app_env.ENV_UPLOADS_PER_WINDOW: str(props.uploads_per_identity),
                app_env.ENV_QUOTA_WINDOW_SECONDS: str(props.quota_window_seconds),
                app_env.ENV_FEATURE_STORE: f"s3://{results.bucket_name}/{props.features_prefix.rstrip('/')}",
                app_env.ENV_CLASSIFIER_DIR: f"s3://{artifacts.bucket_name}/{props.classifiers_prefix.rstrip('/')}",
                app_env.ENV_POWERTOOLS_SERVICE_NAME: app_env.DEFAULT_SERVICE_NAME,
                app_env.ENV_POWERTOOLS_LOG_LEVEL: props.powertools_log_level,
            },
        )
        results_ref, artifacts_ref = nag_ref(stack, results.bucket_arn), nag_ref(stack, artifacts.bucket_arn)
        acknowledge(
            policy,
            {
                **{
                    f"AwsSolutions-IAM5[Resource::{nag_ref(stack, ingestion.bucket_arn)}/{prefix}*]": (
                        "Photo keys are made per upload (identity and photo id); access is limited to "
                        f"{prefix}."
                    )
                    for prefix in (props.staging_prefix, props.uploads_prefix)
                },
                f"AwsSolutions-IAM5[Resource::{results_ref}/{props.answers_prefix}{props.uploads_prefix}*]": (
                    "A correction reads the answer of the caller's photo (its image id and versions): the "
                    "app uploads' answers only, read-only; the handler looks under the caller's own id."
                ),
                f"AwsSolutions-IAM5[Resource::{results_ref}/{props.features_prefix}{CORRECTIONS_DIR}/*]": (
                    "Corrections are one object per identity and photo: write-only, under corrections/ only."
                ),
                f"AwsSolutions-IAM5[Resource::{artifacts_ref}/{props.classifiers_prefix}*/{VERSION_FILE}]": (
                    "The promoted classifier's version.json (its classes) is named by LATEST at run time: "
                    "the metadata files of the classifier registry only, never its arrays."
                ),
            },
        )
        acknowledge(
            function,
            {
                "AwsSolutions-L1": (
                    "Python 3.11 is the project's runtime (as for the Spark job and the Powertools layer)"
                )
            },
        )
        return function

    def _correction_statements(
        self, props: AppAccessProps, *, results: s3.IBucket, artifacts: s3.IBucket
    ) -> list[iam.PolicyStatement]:
        """What ``POST /photos/{photo_id}/correction`` needs: find and read the photo's answer, read the
        promoted classifier's classes, see the commit record, write the correction. Nothing else."""
        answers = f"{props.answers_prefix}{props.uploads_prefix}"
        classifiers = props.classifiers_prefix
        return [
            iam.PolicyStatement(
                sid="ReadAnswersToCorrect",
                actions=["s3:GetObject"],
                resources=[results.arn_for_objects(f"{answers}*")],
            ),
            list_under("FindAnswersToCorrect", results, [f"{answers}*"]),
            iam.PolicyStatement(
                sid="ReadKnownClasses",
                actions=["s3:GetObject"],
                resources=[
                    artifacts.arn_for_objects(f"{classifiers}{LATEST_POINTER}"),
                    artifacts.arn_for_objects(f"{classifiers}*/{VERSION_FILE}"),
                ],
            ),
            iam.PolicyStatement(
                sid="FindCommittedPhotos",
                actions=["dynamodb:GetItem"],
                resources=[self.identity_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="WriteCorrections",
                actions=["s3:PutObject"],
                resources=[results.arn_for_objects(f"{props.features_prefix}{CORRECTIONS_DIR}/*")],
            ),
        ]

    # -- the HTTP API ---------------------------------------------------------------------------

    def _api(self, props: AppAccessProps) -> tuple[apigw.HttpApi, apigw.HttpStage]:
        api = apigw.HttpApi(
            self,
            "Api",
            api_name=props.api_name,
            description="The Fruits! app's API (IAM authorization with Cognito identity credentials)",
            create_default_stage=False,
        )
        # One invoke permission for this API (any route): a permission per route would name the commit
        # route's path with its {photo_id} template, a form that is not proven offline (docs/deploy.md).
        integration = integrations.HttpLambdaIntegration(
            "Function",
            self.function,
            payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            scope_permission_to_route=False,
        )
        for route_key in app_env.ROUTES:
            method, path = route_key.split(" ", 1)
            api.add_routes(
                path=path,
                methods=[apigw.HttpMethod(method)],
                integration=integration,
                authorizer=authorizers.HttpIamAuthorizer(),
            )
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(props.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=api,
            stage_name=STAGE,
            auto_deploy=True,
            # The total for all identities together; the per-identity quota is the Lambda's.
            throttle=apigw.ThrottleSettings(
                rate_limit=props.app_api_rate_limit, burst_limit=props.app_api_burst_limit
            ),
        )
        stage.node.default_child.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
        )
        self.access_logs = access_logs
        return api, stage

    def invoke_arns(self) -> list[str]:
        """The execute-api ARNs of the API's routes on its stage (what the app's roles may invoke)."""
        return [self.api.arn_for_execute_api(*route_resource(key), STAGE) for key in app_env.ROUTES]

    # -- the app's roles ------------------------------------------------------------------------

    def _app_role(self, construct_id: str, amr: str) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            description=f"Fruits! app, {amr} identities of the identity pool: the API and their own answers",
            assumed_by=iam.FederatedPrincipal(
                COGNITO,
                conditions={
                    "StringEquals": {f"{COGNITO}:aud": self.identity_pool_id},
                    "ForAnyValue:StringLike": {f"{COGNITO}:amr": amr},
                },
                assume_role_action="sts:AssumeRoleWithWebIdentity",
            ),
            max_session_duration=Duration.hours(1),
        )

    def _app_policy(self, props: AppAccessProps, results: s3.IBucket) -> None:
        own_answers = f"{props.answers_prefix}{props.uploads_prefix}{IDENTITY_VARIABLE}/*"
        policy = iam.Policy(
            self,
            "AppPolicy",
            roles=[self.guest_role, self.signed_in_role],
            statements=[
                iam.PolicyStatement(
                    sid="CallAppRoutes", actions=["execute-api:Invoke"], resources=self.invoke_arns()
                ),
                iam.PolicyStatement(
                    sid="ReadOwnAnswers",
                    actions=["s3:GetObject"],
                    resources=[results.arn_for_objects(own_answers)],
                ),
                # Listing its own answer prefix: how the app tells "pending" (no such key) from an answer.
                list_under("ListOwnAnswers", results, [own_answers]),
            ],
        )
        stack = Stack.of(self)
        nag_identity = "<cognito-identity.amazonaws.com:sub>"
        acknowledge(
            policy,
            {
                f"AwsSolutions-IAM5[Resource::{nag_ref(stack, results.bucket_arn)}/"
                f"{props.answers_prefix}{props.uploads_prefix}{nag_identity}/*]": (
                    "Each identity reads only the answers under its own identity id (policy variable)."
                ),
                f"AwsSolutions-IAM5[Resource::arn:aws:execute-api:{stack.region}:<AWS::AccountId>:"
                f"{nag_ref_api(stack, self.api)}/{STAGE}/POST/photos/*/commit]": (
                    "The commit route's path holds the photo id: only that route of this API and stage."
                ),
                f"AwsSolutions-IAM5[Resource::arn:aws:execute-api:{stack.region}:<AWS::AccountId>:"
                f"{nag_ref_api(stack, self.api)}/{STAGE}/POST/photos/*/correction]": (
                    "The correction route's path holds the photo id: only that route of this API and stage."
                ),
            },
        )


def nag_ref_api(stack: Stack, api: apigw.HttpApi) -> str:
    """cdk-nag's spelling of the API's ``Ref`` in finding ids, e.g. ``<AppAccessApi1234>``."""
    return "<" + stack.resolve(api.api_id)["Ref"] + ">"
