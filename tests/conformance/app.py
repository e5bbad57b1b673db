"""The app's requests for the conformance suite: recorded API calls and form POSTs, and the data file.

The local flow records the app client's own S3 calls and the API Lambda's calls like every other call
(tests/conformance/recorder.py). What it cannot record as botocore calls is added here: each API call
the emulated HTTP API served becomes ``execute-api:Invoke`` by the caller's identity, and each form POST
becomes ``s3:PutObject`` by the form's signer (the API Lambda's role) plus a check of the form against
its POST policy (tests/conformance/post_policy.py). ``app_requests.json`` lists the app's documented
requests and everything the app must be refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conformance.platform import platform_requests
from tests.conformance.post_policy import FormUpload, policy_of, with_policy
from tests.conformance.recorder import APP, APP_API
from tests.conformance.requests import IamRequest, s3_object_arn
from tests.e2e.app_flow import AppFlowResult, app_spec
from tests.e2e.cdk_stack import TemplateResolver
from tests.e2e.local_flow import FAKE_CREDENTIALS, FlowResult

DATA = Path(__file__).resolve().parent / "app_requests.json"
STAGE = "$default"
#: The secret of the credentials the flow's API Lambda signs forms with (the emulator's fake ones).
SIGNING_SECRET = FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]


def identities(app: AppFlowResult) -> dict[str, str]:
    """Principal key (``app:<identity id>``) -> identity id, for every identity of the flow."""
    return {f"{APP}{i.identity_id}": i.identity_id for i in app.identities}


def placeholders(flow: FlowResult, template: dict[str, Any]) -> dict[str, str]:
    """Values for every ``{name}`` of the data file, from the template and the flow's identities."""
    spec, app = flow.spec, flow.app
    resolver = TemplateResolver(template, account=spec.account, region=spec.region)
    (pool,) = resolver.of_type("AWS::Cognito::IdentityPool")
    (attachment,) = resolver.of_type("AWS::Cognito::IdentityPoolRoleAttachment").values()
    (table,) = resolver.of_type("AWS::DynamoDB::Table").values()
    a, b = app.identities[:2]
    config, names = spec.config, spec.names
    return {
        "account": spec.account,
        "region": spec.region,
        "identity_a": a.identity_id,
        "identity_b": b.identity_id,
        "photo_a": a.grants[0].photo_id,
        "identity_pool_id": resolver.ref(pool),
        "guest_role_arn": str(attachment["Roles"]["unauthenticated"]),
        "signed_in_role_arn": str(attachment["Roles"]["authenticated"]),
        "identity_table_arn": f"arn:aws:dynamodb:{spec.region}:{spec.account}:table/{table['TableName']}",
        "erasure_state_machine_arn": f"arn:aws:states:{spec.region}:{spec.account}:stateMachine:"
        f"{spec.config.name_prefix}-erasure",
        "api_arn": api_arn(flow),
        "api_stage_arn": f"{api_arn(flow)}/{STAGE}",
        "ingestion_bucket": names.ingestion_bucket,
        "results_bucket": names.results_bucket,
        "artifacts_bucket": names.artifacts_bucket,
        "uploads_prefix": config.uploads_prefix,
        "staging_prefix": config.staging_prefix,
        "curated_prefix": config.curated_prefix,
        "answers_prefix": config.answers_prefix,
        "manifests_prefix": config.manifests_prefix,
        "models_prefix": config.models_prefix,
        "classifiers_prefix": config.classifiers_prefix,
        "features_root": config.features_prefix.rstrip("/"),
        "pca_root": config.pca_models_prefix.rstrip("/"),
    }


def api_arn(flow: FlowResult) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api id>`` of the app API (its id from the API URL)."""
    api_id = app_spec(flow.spec).api_url.split("//", 1)[1].split(".", 1)[0]
    return f"arn:aws:execute-api:{flow.spec.region}:{flow.spec.account}:{api_id}"


def data_requests(values: dict[str, str], data: Path = DATA) -> tuple[list[IamRequest], list[IamRequest]]:
    """(requests that must be allowed, requests that must be denied) of the data file, filled in."""
    return platform_requests(values, data)


def served_requests(flow: FlowResult) -> list[IamRequest]:
    """Each API call the app made, as the ``execute-api:Invoke`` IAM authorizes for its identity."""
    arn = f"{api_arn(flow)}/{STAGE}"
    return [
        IamRequest(
            f"{APP}{call.identity_id}",
            "execute-api:Invoke",
            f"{arn}/{call.method}{call.path}",
            {},
            f"served {call.method} {call.path} ({call.route_key}, {call.status})",
        )
        for call in flow.app.api_calls
    ]


def recorded_forms(flow: FlowResult) -> list[FormUpload]:
    """The form POSTs of the flow, as sent (URL, fields, the file's size, when)."""
    return [FormUpload(f.url, dict(f.fields), f.size, f.at) for f in flow.app.forms]


def form_requests(flow: FlowResult) -> list[IamRequest]:
    """Each form POST as S3 authorizes it: ``s3:PutObject`` on its key, by the form's signer."""
    return [
        IamRequest(
            APP_API,
            "s3:PutObject",
            s3_object_arn(form.bucket, form.fields["key"]),
            {},
            f"form POST {form.fields['key']}",
        )
        for form in recorded_forms(flow)
    ]


def refused_forms(
    form: FormUpload, *, other_identity: str, max_bytes: int, uploads_prefix: str, curated_prefix: str
) -> dict[str, FormUpload]:
    """What must be refused, made from one good form of identity A: each case -> the form as sent."""
    staging, identity, name = form.fields["key"].split("/", 2)
    expiration = policy_of(form)["expiration"]
    expired_at = datetime.fromisoformat(expiration.replace("Z", "+00:00")) + timedelta(seconds=1)
    wider = policy_of(form)
    wider["conditions"] = [
        ["content-length-range", 1, 10 * max_bytes]
        if isinstance(c, list) and c[0] == "content-length-range"
        else c
        for c in wider["conditions"]
    ]
    return {
        "oversize": _sized(form, max_bytes + 1),
        "empty file": _sized(form, 0),
        "wrong type": form.with_fields(**{"Content-Type": "image/gif"}),
        "expired grant": FormUpload(form.url, form.fields, form.size, expired_at),
        "key of another identity": form.with_fields(key=f"{staging}/{other_identity}/{name}"),
        "key under the upload prefix": form.with_fields(key=f"{uploads_prefix}{identity}/{name}"),
        "key under the curated prefix": form.with_fields(key=f"{curated_prefix}Apple/{name}"),
        "policy widened by the client": with_policy(form, wider),
        "extra field (acl)": form.with_fields(acl="public-read"),
        "another bucket": FormUpload(
            form.url.replace(form.bucket, "someone-elses-bucket"), form.fields, form.size, form.at
        ),
    }


def _sized(form: FormUpload, size: int) -> FormUpload:
    return FormUpload(form.url, form.fields, size, form.at)
