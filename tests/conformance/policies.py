"""The policies of the synthesized stacks, resolved for one account and region, and their evaluation.

Identity policies come from each role's inline and attached ``AWS::IAM::Policy`` resources; resource
policies from the bucket, topic, queue and ECR repository policies and from role trust policies. Each
:class:`~tests.conformance.requests.IamRequest` is evaluated by ``iam_simulate.mjs``
(``@cloud-copilot/iam-simulate``, AGPL-3.0, installed by ``npm ci`` as a dev dependency and only run by
tests) with the identity policies of its principal and the resource policy of its resource.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.recorder import ANSWER, APP_API, INGEST, JOB, REPO_ROOT
from tests.conformance.requests import IamRequest, ecr_repository_arn
from tests.e2e.cdk_stack import TemplateResolver

SIMULATOR = REPO_ROOT / "tests" / "conformance" / "iam_simulate.mjs"
STATE_MACHINE = "state_machine"
REFIT_STATE_MACHINE = "refit_state_machine"
REFIT_SUFFIX = "-pca-refit"
#: The erasure's state machine and its own EMR Serverless job role (cdk_app/erasure.py).
ERASURE_STATE_MACHINE = "erasure_state_machine"
ERASURE_SUFFIX = "-erasure"
ERASURE = "erasure"
#: Principal key prefix for AWS service principals, e.g. ``service:cloudwatch.amazonaws.com``.
SERVICE = "service:"
#: The app's two roles (by the ``amr`` their trust policy requires) and an unsigned request's principal.
APP_GUEST, APP_SIGNED_IN, ANONYMOUS = "app_guest", "app_signed_in", "anonymous"
#: The policy variable of the caller's Cognito identity id (see :meth:`PolicySet.add_app_identity`).
IDENTITY_VARIABLE = "${cognito-identity.amazonaws.com:sub}"
SESSION = "conformance"


@dataclass
class Principal:
    """A principal of the evaluation: its ARN and the identity policies attached to it."""

    arn: str
    policies: list[dict[str, Any]] = field(default_factory=list)
    account: str = ""


@dataclass
class Decision:
    """The simulator's verdict on one request, with the statements that decided it."""

    request: IamRequest
    decision: str  # Allowed, ImplicitlyDenied, ExplicitlyDenied, Error
    allow: list[str]
    deny: list[str]
    errors: Any = None

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"

    def explain(self) -> str:
        r = self.request
        return (
            f"{self.decision}: {r.principal} {r.action} {r.resource} context={r.context}\n"
            f"  from: {r.source}\n  allowed by: {self.allow or '-'}\n  denied by: {self.deny or '-'}"
            + (f"\n  errors: {json.dumps(self.errors)[:800]}" if self.errors else "")
        )


class PolicySet:
    """Principals and resource policies of the deployed stacks (one account, one region)."""

    def __init__(self, templates: list[dict[str, Any]], *, account: str, region: str):
        self.account, self.region = account, region
        self.principals: dict[str, Principal] = {}
        self.resource_policies: dict[str, dict[str, Any]] = {}
        self.bucket_policies: dict[str, dict[str, Any]] = {}
        for template in templates:
            self._read(template, TemplateResolver(template, account=account, region=region))

    # -- reading the templates --------------------------------------------------------------------

    def _read(self, template: dict[str, Any], resolver: TemplateResolver) -> None:
        resources = template["Resources"]
        role_keys = self._role_keys(resources)
        for logical, resource in resources.items():
            props = resource.get("Properties", {})
            kind = resource["Type"]
            if kind == "AWS::IAM::Role":
                role_arn = resolver.get_att(logical, "Arn")
                key = role_keys.get(logical, logical)
                principal = self.principals.setdefault(key, Principal(arn=self._session(role_arn)))
                principal.account = self.account
                principal.policies += [
                    resolver.resolve(p["PolicyDocument"]) for p in props.get("Policies", [])
                ]
                if props.get("ManagedPolicyArns") and key in (
                    JOB,
                    ERASURE,
                    ERASURE_STATE_MACHINE,
                    INGEST,
                    ANSWER,
                    STATE_MACHINE,
                    REFIT_STATE_MACHINE,
                ):
                    raise AssertionError(
                        f"{key} has managed policies: the suite cannot evaluate them offline"
                    )
                self.resource_policies[role_arn] = resolver.resolve(props["AssumeRolePolicyDocument"])
            elif kind == "AWS::S3::BucketPolicy":
                self.bucket_policies[str(resolver.resolve(props["Bucket"]))] = resolver.resolve(
                    props["PolicyDocument"]
                )
            elif kind == "AWS::SNS::TopicPolicy":
                for topic in props["Topics"]:
                    self.resource_policies[str(resolver.resolve(topic))] = resolver.resolve(
                        props["PolicyDocument"]
                    )
            elif kind == "AWS::SQS::QueuePolicy":
                for queue in props["Queues"]:
                    arn = resolver.get_att(queue["Ref"], "Arn")
                    self.resource_policies[arn] = resolver.resolve(props["PolicyDocument"])
            elif kind == "AWS::Lambda::Permission":
                self._add_lambda_permission(resolver.resolve(props))
            elif kind == "AWS::ECR::Repository" and "RepositoryPolicyText" in props:
                name = resolver.resolve(props["RepositoryName"])
                arn = ecr_repository_arn(self.region, self.account, name)
                self.resource_policies[arn] = resolver.resolve(props["RepositoryPolicyText"])
        for resource in resources.values():
            if resource["Type"] == "AWS::IAM::Policy":
                props = resource["Properties"]
                for role in props.get("Roles", []):
                    key = role_keys.get(role["Ref"], role["Ref"])
                    self.principals[key].policies.append(resolver.resolve(props["PolicyDocument"]))

    @staticmethod
    def _role_keys(resources: dict[str, Any]) -> dict[str, str]:
        """Logical id -> principal key for the pipeline's three roles (found by what uses them)."""
        keys: dict[str, str] = {}
        for logical, resource in resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Role":
                trust = props["AssumeRolePolicyDocument"]["Statement"]
                services = [s["Principal"].get("Service") for s in trust]
                if "emr-serverless.amazonaws.com" in services:
                    keys[logical] = ERASURE if "erasure" in props.get("Description", "") else JOB
                amr = [
                    s.get("Condition", {})
                    .get("ForAnyValue:StringLike", {})
                    .get("cognito-identity.amazonaws.com:amr")
                    for s in trust
                    if s["Principal"].get("Federated") == "cognito-identity.amazonaws.com"
                ]
                if amr:
                    keys[logical] = APP_GUEST if amr == ["unauthenticated"] else APP_SIGNED_IN
            elif resource["Type"] == "AWS::StepFunctions::StateMachine":
                name = str(props.get("StateMachineName", ""))
                keys[props["RoleArn"]["Fn::GetAtt"][0]] = (
                    REFIT_STATE_MACHINE
                    if name.endswith(REFIT_SUFFIX)
                    else ERASURE_STATE_MACHINE
                    if name.endswith(ERASURE_SUFFIX)
                    else STATE_MACHINE
                )
            elif resource["Type"] == "AWS::Lambda::Function" and props.get("Handler", "").startswith(
                "lambdas.ingest"
            ):
                keys[props["Role"]["Fn::GetAtt"][0]] = INGEST
            elif resource["Type"] == "AWS::Lambda::Function" and props.get("ImageConfig", {}).get(
                "Command", [""]
            )[0].startswith("lambdas.answer"):
                keys[props["Role"]["Fn::GetAtt"][0]] = ANSWER
            elif resource["Type"] == "AWS::Lambda::Function" and props.get("Handler", "").startswith(
                "lambdas.app_api"
            ):
                keys[props["Role"]["Fn::GetAtt"][0]] = APP_API
        return keys

    def _add_lambda_permission(self, permission: dict[str, Any]) -> None:
        """An ``AWS::Lambda::Permission`` as the statement Lambda adds to the function's resource policy
        (Lambda Developer Guide, "Lambda resource-based policies": a source ARN becomes ``ArnLike``)."""
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": permission["Principal"]},
            "Action": permission["Action"],
            "Resource": permission["FunctionName"],
        }
        conditions: dict[str, Any] = {}
        if "SourceArn" in permission:
            conditions["ArnLike"] = {"AWS:SourceArn": permission["SourceArn"]}
        if "SourceAccount" in permission:
            conditions["StringEquals"] = {"AWS:SourceAccount": permission["SourceAccount"]}
        if conditions:
            statement["Condition"] = conditions
        policy = self.resource_policies.setdefault(
            str(permission["FunctionName"]), {"Version": "2012-10-17", "Statement": []}
        )
        policy["Statement"].append(statement)

    def _session(self, role_arn: str) -> str:
        name = role_arn.rsplit("/", 1)[1]
        return f"arn:aws:sts::{self.account}:assumed-role/{name}/{SESSION}"

    def add_role(self, key: str, role_arn: str, policies: list[dict[str, Any]] | None = None) -> None:
        """A role from outside the stacks (e.g. the CDK bootstrap's image publisher)."""
        self.principals[key] = Principal(
            arn=self._session(role_arn), policies=policies or [], account=self.account
        )

    def add_app_identity(self, key: str, identity_id: str, role_key: str = APP_GUEST) -> None:
        """The app role's session of one Cognito identity, its policy variable already substituted.

        The simulator drops the ``cognito-identity.amazonaws.com:*`` context keys of S3 and execute-api
        requests, so a policy variable on them would never resolve (and every request would be refused):
        ``${cognito-identity.amazonaws.com:sub}`` is replaced by the identity id in the policy text
        before evaluation, which is what IAM does with the session's value.
        """
        role = self.principals[role_key]
        policies = [json.loads(json.dumps(p).replace(IDENTITY_VARIABLE, identity_id)) for p in role.policies]
        self.principals[key] = Principal(
            arn=role.arn.rsplit("/", 1)[0] + "/CognitoIdentityCredentials",
            policies=policies,
            account=self.account,
        )

    # -- evaluation -------------------------------------------------------------------------------

    def resource_policy(self, resource: str) -> dict[str, Any] | None:
        if resource.startswith("arn:aws:s3:::"):
            return self.bucket_policies.get(resource.removeprefix("arn:aws:s3:::").split("/", 1)[0])
        return self.resource_policies.get(resource)

    def simulation(self, request: IamRequest) -> dict[str, Any]:
        """The iam-simulate input for one request."""
        context: dict[str, Any] = {"aws:SecureTransport": "true", **request.context}
        principal_arn: Any
        if request.principal == ANONYMOUS:  # an unsigned request: no identity policies, no account
            principal_arn, identity = {"type": "Anonymous"}, []
        elif request.principal.startswith(SERVICE):
            principal_arn, identity = request.principal.removeprefix(SERVICE), []
        else:
            principal = self.principals[request.principal]
            principal_arn, identity = principal.arn, principal.policies
            context.setdefault("aws:PrincipalAccount", self.account)
        if request.action.startswith("s3:"):
            context.setdefault("s3:TlsVersion", "1.3")
        simulation: dict[str, Any] = {
            "request": {
                "principal": principal_arn,
                "action": request.action,
                "resource": {"resource": request.resource, "accountId": self.account},
                "contextVariables": {k: str(v) if not isinstance(v, list) else v for k, v in context.items()},
            },
            "identityPolicies": [
                {"name": f"{request.principal}-{i}", "policy": p} for i, p in enumerate(identity)
            ],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        policy = self.resource_policy(request.resource)
        if policy is not None:
            simulation["resourcePolicy"] = policy
        return simulation

    def evaluate(self, requests: list[IamRequest]) -> list[Decision]:
        """Evaluate every request in one simulator run."""
        cases = [{"id": str(i), "simulation": self.simulation(r)} for i, r in enumerate(requests)]
        proc = subprocess.run(
            ["node", str(SIMULATOR)],
            input=json.dumps(cases),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"iam-simulate failed: {proc.stderr[-2000:]}")
        results = {r["id"]: r for r in json.loads(proc.stdout)}
        return [
            Decision(
                request=r,
                decision=results[str(i)]["decision"],
                allow=results[str(i)].get("allow", []),
                deny=results[str(i)].get("deny", []),
                errors=results[str(i)].get("errors"),
            )
            for i, r in enumerate(requests)
        ]
