"""The real CDK CLI synthesizes the app offline (no account, no Docker, no lookups)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CDK.exists(), reason="CDK CLI not installed: run `npm ci` (make setup) first"),
]


def _cdk(*args: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_DEFAULT_"))  # offline: no credentials, no account
    }
    env.update(
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        AWS_EC2_METADATA_DISABLED="true",
        CDK_DISABLE_VERSION_CHECK="1",
    )
    return subprocess.run(
        [str(CDK), "synth", "--no-notices", "--no-version-reporting", "-o", str(outdir), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_cdk_synth_prints_the_template_offline(tmp_path: Path) -> None:
    result = _cdk("FruitsPipeline", outdir=tmp_path / "cdk.out")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "AWS::EMRServerless::Application" in result.stdout
    assert "arn:aws:states:::emr-serverless:startJobRun.sync" in result.stdout
    template = json.loads((tmp_path / "cdk.out" / "FruitsPipeline.template.json").read_text())
    assert template["Resources"]
    images = json.loads((tmp_path / "cdk.out" / "FruitsPipelineImages.template.json").read_text())
    assert [r["Type"] for r in images["Resources"].values()] == ["AWS::ECR::Repository"]
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_cdk_synth_refuses_a_region_outside_the_eu(tmp_path: Path) -> None:
    result = _cdk("-c", "region=us-east-1", outdir=tmp_path / "cdk.out")
    assert result.returncode != 0
    assert "'us-east-1' is not an EU region" in result.stderr


# An unknown or misspelled context key: tests/cli/test_failures.py (the table of every command's failures).
