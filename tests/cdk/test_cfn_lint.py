"""cfn-lint (pinned in requirements-dev.txt) on every synthesized template: what the CloudFormation
resource specifications say about property values, types and limits, which cdk-nag does not check."""

from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint_file

#: Warnings accepted, each with why. Anything else (and every error) fails the test.
ACCEPTED_WARNINGS = {
    "W3005": (
        "dependency already enforced by a 'GetAtt'",
        "CDK adds DependsOn on a resource's role or queue together with its policy, so that the policy "
        "exists before the resource uses it; the role (or queue) entry is redundant with the GetAtt and "
        "changes nothing (CloudFormation orders by both).",
    ),
}


@pytest.mark.parametrize("stack_name", ["FruitsPipeline", "FruitsPipelineImages"])
def test_templates_pass_cfn_lint(synth, stack_name: str) -> None:
    template = synth.outdir / f"{stack_name}.template.json"
    matches = lint_file(template, ManualArgs(regions=[synth.config.region]))
    unexpected = [
        f"{m.rule.id} ({m.rule.severity}) {'/'.join(map(str, m.path))}: {m.message}"
        for m in matches
        if m.rule.id not in ACCEPTED_WARNINGS or ACCEPTED_WARNINGS[m.rule.id][0] not in m.message
    ]
    assert not unexpected, "\n".join(unexpected)
    assert all(m.rule.severity != "error" for m in matches)


def test_cfn_lint_finds_what_it_should() -> None:
    """The linter is really running: a bad property value in a template is an error."""
    from cfnlint.api import lint

    bad = '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}}'
    assert [m.rule.id for m in lint(bad, regions=["eu-west-3"])] == ["E3012"]
