"""cdk-nag AwsSolutions: zero unacknowledged findings, and every acknowledgement has a written reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


def _violations(report: Path) -> list[str]:
    data = json.loads(report.read_text())
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in data["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


def test_awssolutions_reports_no_unacknowledged_finding(synth) -> None:
    # The session synthesis runs the AwsSolutions plugin; any finding would have failed synth() already.
    assert _violations(synth.outdir / "validation-report.json") == []


def test_every_acknowledgement_has_a_written_reason(synth) -> None:
    metadata = json.loads((synth.outdir / "FruitsPipeline.metadata.json").read_text())
    acknowledgements = {
        rule: reason
        for entries in metadata.values()
        for entry in entries
        if entry["type"] == ACKNOWLEDGED
        for rule, reason in entry["data"].items()
    }
    assert acknowledgements, "expected the documented acknowledgements"
    for rule, reason in acknowledgements.items():
        assert "AwsSolutions-" in rule
        assert len(reason.split()) >= 4, f"{rule}: reason too short: {reason!r}"


def test_the_checks_are_live_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path), analytics_reporting=False)
    stack = Stack(app, "Probe", env=Environment(region="eu-west-3"))
    s3.Bucket(stack, "NoLogs", enforce_ssl=True)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions-S1 at Probe/NoLogs/Resource" in _violations(tmp_path / "validation-report.json")
