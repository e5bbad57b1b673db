"""Snapshot of the synthesized template, stable across machines (asset hashes normalised).

Update after an intended change with: ``UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cdk -k snapshot``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cdk_helpers import normalise_assets

UPDATE_COMMAND = "UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cdk -k snapshot"
SNAPSHOT = Path(__file__).parent / "snapshots" / "FruitsPipeline.template.json"


def render(template: dict) -> str:
    return normalise_assets(json.dumps(template, indent=1, sort_keys=True)) + "\n"


def test_template_matches_the_snapshot(synth) -> None:
    actual = render(synth.template_json)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(actual)
    assert SNAPSHOT.exists(), f"no snapshot yet; create it with: {UPDATE_COMMAND}"
    expected = SNAPSHOT.read_text()
    assert actual == expected, f"the template changed; if intended, run: {UPDATE_COMMAND}"


def test_normalisation_removes_every_asset_hash(synth) -> None:
    rendered = render(synth.template_json)
    assert "<asset-hash>" in rendered
    for asset_dir in synth.outdir.glob("asset.*"):
        digest = asset_dir.name.removeprefix("asset.").removesuffix(".zip")
        assert digest not in rendered
