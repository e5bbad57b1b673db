"""Helpers for reading synthesized CloudFormation templates in the CDK tests."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from cdk_app.app import build_app
from cdk_app.config import REPO_ROOT, STACK_NAME, PipelineConfig
from cdk_app.stack import PipelineStack

#: Asset hashes (64 hex digits) differ across machines and code changes; snapshots replace them.
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def resolve_join(value: Any) -> str:
    """Flatten ``Fn::Join`` into a string; intrinsics become ``${Ref}`` / ``${Id.Attr}``, Fn::Sub stays."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_join(part) for part in parts)
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    raise AssertionError(f"unexpected intrinsic {value!r}")


def policy_statements(template_json: dict[str, Any], role: str | None = None) -> list[dict[str, Any]]:
    """Statements of all IAM policies and inline role policies, or only those of one role (logical id)."""
    statements: list[dict[str, Any]] = []
    for logical_id, resource in template_json["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if role is None or {"Ref": role} in props.get("Roles", []):
                statements += props["PolicyDocument"]["Statement"]
        elif resource["Type"] == "AWS::IAM::Role" and role in (None, logical_id):
            for policy in props.get("Policies", []):
                statements += policy["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    """IAM allows a single value or a list."""
    return value if isinstance(value, list) else [value]


def normalise_assets(text: str) -> str:
    """Replace every asset hash in a template's JSON text by a fixed placeholder."""
    return ASSET_HASH.sub("<asset-hash>", text)


def cdk_json_context() -> dict[str, Any]:
    """The context the CLI passes from cdk.json (feature flags), so tests synthesize the same app."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesized:
    """One synthesized app: its stack, configuration, template and cloud assembly directory."""

    stack: PipelineStack
    config: PipelineConfig
    template: Template
    template_json: dict[str, Any]
    outdir: Path

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for one CloudFormation type."""
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        """Logical id of an L2 construct's CloudFormation resource."""
        return self.stack.get_logical_id(construct.node.default_child)


def synthesize(outdir: Path, context: dict[str, Any] | None = None, *, nag: bool = True) -> Synthesized:
    """Synthesize the app offline (no account: the account stays a token)."""
    os.environ.pop("CDK_DEFAULT_ACCOUNT", None)
    app = App(
        outdir=str(outdir), analytics_reporting=False, context={**cdk_json_context(), **(context or {})}
    )
    app, stack = build_app(app, nag=nag)
    assembly = app.synth()
    template_json = assembly.get_stack_by_name(STACK_NAME).template
    assert stack.config is not None  # build_app records the configuration it assembled the props from
    return Synthesized(
        stack=stack,
        config=stack.config,
        template=Template.from_json(template_json),
        template_json=template_json,
        outdir=outdir,
    )


@dataclass
class Probe:
    """One construct under test, alone in a bare stack (cdk.json's feature flags, no cdk-nag)."""

    stack: Stack
    construct: Any
    template: Template
    template_json: dict[str, Any]

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for one CloudFormation type."""
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == cfn_type}

    def properties(self, construct: Any) -> dict[str, Any]:
        """The CloudFormation properties of an L2 construct's resource (or of an L1 resource)."""
        resource = getattr(construct.node, "default_child", None) or construct
        return self.template_json["Resources"][self.stack.get_logical_id(resource)]["Properties"]


def probe(build: Callable[[Stack], Any], *, region: str = "eu-west-3") -> Probe:
    """Synthesize what ``build`` adds to a bare stack in ``region``."""
    app = App(analytics_reporting=False, context=cdk_json_context())
    stack = Stack(app, "Probe", env=Environment(region=region))
    construct = build(stack)
    template = Template.from_stack(stack)
    return Probe(stack=stack, construct=construct, template=template, template_json=template.to_json())
