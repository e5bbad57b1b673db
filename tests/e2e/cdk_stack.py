"""What the CDK app defines, read from its synthesized CloudFormation template (nothing retyped by hand).

The app is synthesized in-process (as ``tests/cdk`` does, without the cdk-nag pass) and the resources
the local flow emulates are read from the template. CloudFormation intrinsics (``Ref``, ``Fn::GetAtt``,
``Fn::Join``, ``Fn::Sub``) are resolved for one account and region, the way a deployment resolves them;
attributes that only exist on AWS (e.g. the EMR Serverless application id) become readable placeholders.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before jsii starts (when aws_cdk is first imported): its Node.js version banners are noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from cdk_app.config import REPO_ROOT, STACK_NAME, PipelineConfig, ResourceNames

#: moto's default account: every resource of the emulator lives in it.
MOTO_ACCOUNT = "123456789012"
PARTITION = "aws"
ENTRY_POINT_ARGUMENTS = "EntryPointArguments.$"
#: Queue properties of the template that are also SQS queue attributes.
QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


class TemplateError(ValueError):
    """The template does not contain what the local flow needs (the message says what)."""


@dataclass(frozen=True)
class QueueSpec:
    """One SQS queue: name, ARN and the attributes to create it with."""

    name: str
    arn: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class DeployedNames(ResourceNames):
    """The configured names plus the bucket names CloudFormation generates (read from the outputs)."""

    ingestion_bucket: str
    results_bucket: str
    artifacts_bucket: str
    access_logs_bucket: str


#: Stack output -> DeployedNames field, for the generated bucket names.
BUCKET_OUTPUTS = {
    "IngestionBucket": "ingestion_bucket",
    "ResultsBucket": "results_bucket",
    "ArtifactsBucket": "artifacts_bucket",
    "AccessLogsBucket": "access_logs_bucket",
}


@dataclass(frozen=True)
class StackSpec:
    """Everything the local flow creates, with the names and settings of the synthesized stack."""

    config: PipelineConfig
    names: DeployedNames
    account: str
    buckets: tuple[str, ...]
    upload_queue: QueueSpec
    dead_letter_queue: QueueSpec
    #: The ingestion bucket's NotificationConfiguration (queue ARN resolved).
    notification: dict[str, Any]
    state_machine_arn: str
    state_machine_role_arn: str
    state_machine_definition: str
    #: The ingest Lambda's environment variables, as deployed (state machine ARN resolved).
    lambda_environment: dict[str, str]
    lambda_memory_mb: int
    #: The refit workflow's definition (resolved JSON text) and the Glue catalog (database, tables).
    refit_definition: str
    glue_database: dict[str, Any]
    glue_tables: list[dict[str, Any]]
    template_path: Path

    @property
    def region(self) -> str:
        return self.config.region

    def entry_point_arguments(self) -> str:
        """The ``EntryPointArguments.$`` expression of the state machine's EMR Serverless task."""
        return entry_point_arguments(self.state_machine_definition)


# ------------------------------------------------------------------------------- synthesis


@contextmanager
def _environ_without(*names: str) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def synthesize(outdir: Path) -> tuple[PipelineConfig, dict[str, Any]]:
    """Synthesize the app (with the context of cdk.json) into ``outdir``; returns its config and template."""
    from aws_cdk import App

    from cdk_app.app import build_app

    context = json.loads((REPO_ROOT / "cdk.json").read_text()).get("context", {})
    outdir.mkdir(parents=True, exist_ok=True)
    # Offline, like `make synth`: the account stays a token, resolved below for the emulator's account.
    with _environ_without("CDK_DEFAULT_ACCOUNT"):
        app = App(outdir=str(outdir), analytics_reporting=False, context=context)
        app, stack = build_app(app, nag=False)
        template = app.synth().get_stack_by_name(STACK_NAME).template
    return stack.config, template


# ------------------------------------------------------------------------------- intrinsics

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateResolver:
    """Resolves CloudFormation intrinsics of one template for one account and region."""

    def __init__(self, template: dict[str, Any], *, account: str, region: str):
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.outputs: dict[str, dict[str, Any]] = template.get("Outputs", {})
        self.account = account
        self.region = region
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK_NAME,
        }

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic replaced by its value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(part)) for part in parts)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic {key} is not supported by the local flow")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.pseudo:
                return self.get_att(*name.split(".", 1))
            return self.ref(name)

        return _SUB_VARIABLE.sub(value, text)

    def _resource(self, logical: str) -> dict[str, Any]:
        try:
            return self.resources[logical]
        except KeyError:
            raise TemplateError(f"no resource {logical!r} in the template") from None

    def _name(self, logical: str, prop: str) -> str:
        """The resource's physical name property (resolved), else a generated name.

        Like CloudFormation's generated names (stack name + logical id), lower case so that it is also
        a valid bucket name.
        """
        props = self._resource(logical).get("Properties", {})
        if prop in props:
            return str(self.resolve(props[prop]))
        return f"{STACK_NAME}-{logical}".lower()[:63]

    def output(self, name: str) -> Any:
        """A stack output's value, resolved."""
        try:
            return self.resolve(self.outputs[name]["Value"])
        except KeyError:
            raise TemplateError(f"no output {name!r} in the template") from None

    def ref(self, logical: str) -> str:
        """Value of ``{"Ref": logical}``: a pseudo parameter or a resource's physical id."""
        if logical in self.pseudo:
            return self.pseudo[logical]
        kind = self._resource(logical)["Type"]
        if kind == "AWS::S3::Bucket":
            return self._name(logical, "BucketName")
        if kind == "AWS::SQS::Queue":
            return (
                f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self._name(logical, 'QueueName')}"
            )
        if kind in ("AWS::StepFunctions::StateMachine", "AWS::SNS::Topic", "AWS::IAM::Role"):
            return self.get_att(logical, "Arn")
        if kind == "AWS::Lambda::Function":
            return self._name(logical, "FunctionName")
        if kind == "AWS::DynamoDB::Table":
            return self._name(logical, "TableName")
        return logical  # placeholder: a physical id only AWS can know

    def get_att(self, logical: str, attribute: str) -> str:
        """Value of ``{"Fn::GetAtt": [logical, attribute]}``; a placeholder for AWS-only attributes."""
        kind = self._resource(logical)["Type"]
        where = f"{self.region}:{self.account}"
        arns = {
            "AWS::S3::Bucket": lambda: f"arn:{PARTITION}:s3:::{self._name(logical, 'BucketName')}",
            "AWS::SQS::Queue": lambda: f"arn:{PARTITION}:sqs:{where}:{self._name(logical, 'QueueName')}",
            "AWS::SNS::Topic": lambda: f"arn:{PARTITION}:sns:{where}:{self._name(logical, 'TopicName')}",
            "AWS::IAM::Role": lambda: (
                f"arn:{PARTITION}:iam::{self.account}:role/{self._name(logical, 'RoleName')}"
            ),
            "AWS::Lambda::Function": lambda: (
                f"arn:{PARTITION}:lambda:{where}:function:{self._name(logical, 'FunctionName')}"
            ),
            "AWS::StepFunctions::StateMachine": lambda: (
                f"arn:{PARTITION}:states:{where}:stateMachine:{self._name(logical, 'StateMachineName')}"
            ),
            "AWS::Events::Rule": lambda: f"arn:{PARTITION}:events:{where}:rule/{self._name(logical, 'Name')}",
            "AWS::Logs::LogGroup": lambda: (
                f"arn:{PARTITION}:logs:{where}:log-group:{self._name(logical, 'LogGroupName')}:*"
            ),
            "AWS::EMRServerless::Application": lambda: (
                f"arn:{PARTITION}:emr-serverless:{where}:/applications/"
                + self.get_att(logical, "ApplicationId")
            ),
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]()
        if attribute == "QueueName" and kind == "AWS::SQS::Queue":
            return self._name(logical, "QueueName")
        return f"{logical}.{attribute}"  # placeholder: e.g. the EMR Serverless application id

    # -- lookups ---------------------------------------------------------------------------------

    def find(self, cfn_type: str, name_property: str, name: str) -> tuple[str, dict[str, Any]]:
        """(logical id, properties resolved) of the one resource of ``cfn_type`` named ``name``."""
        found = [
            logical
            for logical, resource in self.resources.items()
            if resource["Type"] == cfn_type
            and self.resolve(resource.get("Properties", {}).get(name_property)) == name
        ]
        if len(found) != 1:
            raise TemplateError(f"expected one {cfn_type} with {name_property}={name!r}, found {len(found)}")
        return found[0], self.resolve(self.resources[found[0]].get("Properties", {}))

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resolved properties, for every resource of ``cfn_type``."""
        return {
            logical: self.resolve(resource.get("Properties", {}))
            for logical, resource in self.resources.items()
            if resource["Type"] == cfn_type
        }


# ------------------------------------------------------------------------------- the stack


def _queue(resolver: TemplateResolver, name: str) -> QueueSpec:
    logical, props = resolver.find("AWS::SQS::Queue", "QueueName", name)
    attributes = {key: str(props[key]) for key in QUEUE_ATTRIBUTES if key in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"], sort_keys=True)
    if props.get("SqsManagedSseEnabled") is not None:
        attributes["SqsManagedSseEnabled"] = str(props["SqsManagedSseEnabled"]).lower()
    return QueueSpec(name=name, arn=resolver.get_att(logical, "Arn"), attributes=attributes)


def _notification(resolver: TemplateResolver, bucket: str) -> dict[str, Any]:
    configs = [
        props["NotificationConfiguration"]
        for props in resolver.of_type("Custom::S3BucketNotifications").values()
        if props.get("BucketName") == bucket
    ]
    if len(configs) != 1:
        raise TemplateError(
            f"expected one notification configuration for bucket {bucket}, found {len(configs)}"
        )
    return configs[0]


def stack_spec(
    config: PipelineConfig, template: dict[str, Any], *, template_path: Path, account: str = MOTO_ACCOUNT
) -> StackSpec:
    """Read the resources the local flow emulates from the template, for ``account``."""
    resolver = TemplateResolver(template, account=account, region=config.region)
    names = DeployedNames(
        **vars(config.names()),
        **{field: str(resolver.output(output)) for output, field in BUCKET_OUTPUTS.items()},
    )
    buckets = tuple(names.__dict__[field] for field in BUCKET_OUTPUTS.values())
    sm_logical, sm_props = resolver.find(
        "AWS::StepFunctions::StateMachine", "StateMachineName", names.state_machine
    )
    _, function = resolver.find("AWS::Lambda::Function", "FunctionName", names.ingest_function)
    _, refit = resolver.find(
        "AWS::StepFunctions::StateMachine", "StateMachineName", names.refit_state_machine
    )
    (database,) = resolver.of_type("AWS::Glue::Database").values()
    return StackSpec(
        config=config,
        names=names,
        account=account,
        buckets=buckets,
        upload_queue=_queue(resolver, names.upload_queue),
        dead_letter_queue=_queue(resolver, names.upload_dlq),
        notification=_notification(resolver, names.ingestion_bucket),
        state_machine_arn=resolver.ref(sm_logical),
        state_machine_role_arn=sm_props["RoleArn"],
        state_machine_definition=sm_props["DefinitionString"],
        lambda_environment={k: str(v) for k, v in function["Environment"]["Variables"].items()},
        lambda_memory_mb=int(function.get("MemorySize", 128)),
        refit_definition=refit["DefinitionString"],
        glue_database=database["DatabaseInput"],
        glue_tables=[t["TableInput"] for t in resolver.of_type("AWS::Glue::Table").values()],
        template_path=template_path,
    )


def load_stack_spec(outdir: Path, account: str = MOTO_ACCOUNT) -> StackSpec:
    """Synthesize the CDK app into ``outdir`` and read the stack for ``account``."""
    config, template = synthesize(outdir)
    return stack_spec(config, template, template_path=outdir / f"{STACK_NAME}.template.json", account=account)


# ------------------------------------------------------------------------------- the Spark job


def entry_point_arguments(definition: str) -> str:
    """The ``EntryPointArguments.$`` expression of the (one) EMR Serverless ``.sync`` task."""
    from cdk_app.orchestration import START_JOB_RUN_SYNC  # imports aws_cdk (starts jsii): only when needed

    tasks = [
        state
        for state in json.loads(definition)["States"].values()
        if state.get("Resource") == START_JOB_RUN_SYNC
    ]
    if len(tasks) != 1:
        raise TemplateError(f"expected one {START_JOB_RUN_SYNC} task in the definition, found {len(tasks)}")
    try:
        return tasks[0]["Parameters"]["JobDriver"]["SparkSubmit"][ENTRY_POINT_ARGUMENTS]
    except KeyError as exc:
        raise TemplateError(
            f"the EMR task has no JobDriver.SparkSubmit.{ENTRY_POINT_ARGUMENTS}: {exc}"
        ) from None


_STATES_ARRAY = re.compile(r"\s*States\.Array\((?P<args>.*)\)\s*", re.DOTALL)
_ARGUMENT = re.compile(r"\s*(?:'(?P<literal>(?:[^'\\]|\\.)*)'|(?P<path>\$(?:\.[A-Za-z0-9_]+)*))\s*(?:,|$)")
_ESCAPE = re.compile(r"\\(.)")


def _json_path(path: str, document: dict[str, Any]) -> Any:
    value: Any = document
    for part in path.split(".")[1:]:
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"{path} is not in the execution input")
        value = value[part]
    return value


def evaluate_states_array(expression: str, execution_input: dict[str, Any]) -> list[str]:
    """Evaluate ``States.Array('lit', $.path, ...)`` against an execution input, like Step Functions.

    Only what the state machine uses is supported: quoted literals and simple ``$.a.b`` paths
    to strings; anything else is an error (so a change on the CDK side cannot be silently ignored).
    """
    match = _STATES_ARRAY.fullmatch(expression)
    if not match:
        raise TemplateError(f"not a States.Array(...) expression: {expression!r}")
    text, position, values = match.group("args"), 0, []
    while position < len(text):
        argument = _ARGUMENT.match(text, position)
        if not argument or argument.end() == position:
            raise TemplateError(f"cannot parse States.Array argument at {text[position:]!r}")
        if argument.group("literal") is not None:
            values.append(_ESCAPE.sub(r"\1", argument.group("literal")))
        else:
            value = _json_path(argument.group("path"), execution_input)
            if not isinstance(value, str):
                raise TemplateError(f"{argument.group('path')} is {value!r}, not a string")
            values.append(value)
        position = argument.end()
    return values
