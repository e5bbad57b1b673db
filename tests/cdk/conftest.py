"""Fixtures for the CDK tests: one synthesized app (with cdk-nag) shared by the whole session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before jsii starts: its Node.js end-of-life banner is noise in test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[2]
# The CDK app (repository root) and the helpers next to this file (pytest runs in importlib mode).
for _path in (REPO_ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pytest  # noqa: E402
from cdk_helpers import Synthesized, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The default app, synthesized once per session with the AwsSolutions checks enabled."""
    return synthesize(tmp_path_factory.mktemp("cdk-out"))
