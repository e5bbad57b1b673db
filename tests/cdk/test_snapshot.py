"""Snapshots of the synthesized templates (pipeline and image stacks), stable across machines.

Update after an intended change with: ``UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cdk -k snapshot``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cdk_helpers import normalise_assets

UPDATE_COMMAND = "UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cdk -k snapshot"
SNAPSHOTS = Path(__file__).parent / "snapshots"


def render(template: dict) -> str:
    return normalise_assets(json.dumps(template, indent=1, sort_keys=True)) + "\n"


@pytest.mark.parametrize("stack_name", ["FruitsPipeline", "FruitsPipelineImages"])
def test_template_matches_the_snapshot(synth, stack_name: str) -> None:
    template = json.loads((synth.outdir / f"{stack_name}.template.json").read_text())
    actual = render(template)
    snapshot = SNAPSHOTS / f"{stack_name}.template.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(actual)
    assert snapshot.exists(), f"no snapshot yet; create it with: {UPDATE_COMMAND}"
    expected = snapshot.read_text()
    assert actual == expected, f"the template changed; if intended, run: {UPDATE_COMMAND}"


def test_normalisation_removes_every_asset_hash(synth) -> None:
    rendered = render(synth.template_json)
    assert "<asset-hash>" in rendered
    for asset_dir in synth.outdir.glob("asset.*"):
        digest = asset_dir.name.removeprefix("asset.").removesuffix(".zip")
        assert digest not in rendered
