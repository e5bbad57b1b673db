"""Every command's failures, in one table: one clear line on stderr, a non-zero exit, no traceback.

Most rows call the command's ``main(argv)`` in this process (what ``python -m ...`` runs, without paying
an interpreter start per row); a row runs in a child process when the process itself is the point (a
Python without the packages, the replay tool's AWS configuration read from the environment, the CDK CLI).
Only three rows start Spark: the failures that need the store's contents (they reuse the session).
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.images import REPO

CDK = REPO / "node_modules" / ".bin" / "cdk"
#: What the Spark JVM and the CDK CLI print on stderr around the error (never our own lines).
_NOISE = re.compile(
    r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO)|Setting default log level|To adjust logging)"
)


@dataclass(frozen=True)
class Case:
    """One failure: what to run, the one line it must print (a regular expression), its exit code."""

    argv: tuple[str, ...]
    line: str
    code: int = 2
    #: ``main``: the module's ``main(argv)`` in this process; ``process``: a child Python; ``cdk``: the CLI.
    how: str = "main"
    module: str = "spark_app.cli"
    env: dict[str, str] = field(default_factory=dict)


def _spark(case: Case, name: str):
    return pytest.param(case, id=name, marks=[pytest.mark.spark, pytest.mark.slow])


_NO_AWS = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
_ARN = "arn:aws:states:eu-west-3:123456789012:stateMachine:fruits-feature-pipeline"
_REPLAY = "lambdas.replay.__main__"
_FLOW = "tests.e2e.local_flow"

CASES = [
    # the feature job: arguments, paths, manifest, models (all before Spark starts)
    pytest.param(
        Case(("--input", "{tmp}/none", "--output", "{tmp}/o"), r"--input folder not found"), id="job-no-input"
    ),
    pytest.param(
        Case(
            ("--input", "data/sample", "--output", "{tmp}/o", "--batch-size", "0"),
            r"--batch-size: must be a positive",
        ),
        id="job-bad-number",
    ),
    pytest.param(Case(("--input", "data/sample"), r"required: --output"), id="job-missing-option"),
    pytest.param(
        Case(
            ("--manifest", "{tmp}/relative.jsonl", "--output", "{tmp}/o"), r"'data/sample/x.jpg' is relative"
        ),
        id="job-relative-manifest-uri",
    ),
    pytest.param(
        Case(
            ("--input", "data/sample", "--output", "{tmp}/o", "--pca-model", "{tmp}/none"),
            r"cannot read model version",
        ),
        id="job-missing-basis",
    ),
    pytest.param(
        Case(
            ("--input", "data/sample", "--output", "{tmp}/o", "--weights-sha256", "abc"), r"checksum mismatch"
        ),
        id="job-wrong-weights",
    ),
    pytest.param(
        Case(("pcaa", "fit"), r"unknown command 'pcaa' \(did you mean 'pca'\?\)"), id="misspelled-command"
    ),
    pytest.param(
        Case(
            ("spark_app/__main__.py", "--help"),
            r"No module named .*: run it with the project's Python",
            how="process",
        ),
        id="python-without-the-packages",
    ),
    # the lifecycle commands
    pytest.param(
        Case(
            ("pca", "fit", "--store", "{tmp}/none", "--pca-model-dir", "{tmp}/p"), r"--store folder not found"
        ),
        id="pca-fit-no-store",
    ),
    pytest.param(
        Case(("pca", "backfill", "--store", "{tmp}", "--pca-model-dir", "{tmp}/p"), r"has no features/ yet"),
        id="pca-backfill-empty-store",
    ),
    pytest.param(
        Case(("pca", "fit", "--store", "{tmp}"), r"required: --pca-model-dir"), id="pca-fit-missing-option"
    ),
    pytest.param(
        Case(("pca", "promote", "--pca-model-dir", "{tmp}/p"), r"no complete version in .* to promote"),
        id="pca-promote-empty",
    ),
    pytest.param(
        Case(
            ("classifier", "train", "--store", "{tmp}", "--classifier-dir", "{tmp}/c", "--folds", "1"),
            r"at least 2",
        ),
        id="classifier-bad-folds",
    ),
    pytest.param(
        Case(
            ("classifier", "promote", "--classifier-dir", "{tmp}/c", "--gate"), r"no complete version|nothing"
        ),
        id="classifier-promote-empty",
    ),
    _spark(
        Case(  # a child process: what a person sees on stderr, the JVM's own lines included
            (
                "-m",
                "spark_app",
                "pca",
                "fit",
                "--store",
                "{store}",
                "--pca-model-dir",
                "{store}/pca_models",
                "--min-images",
                "1000",
            ),
            r"1,?000",
            how="process",
        ),
        "pca-fit-too-few-images",
    ),
    _spark(
        Case(
            (
                "classifier",
                "train",
                "--store",
                "{store}",
                "--classifier-dir",
                "{store}/c",
                "--min-per-class",
                "500",
            ),
            r"500",
        ),
        "classifier-too-few-per-class",
    ),
    # sql
    pytest.param(Case(("sql", "--store", "{tmp}/none"), r"--store folder not found"), id="sql-no-store"),
    _spark(
        Case(("sql", "--store", "{store}", "SELEC label FROM features"), r"the query failed: .*SELEC"),
        "sql-syntax",
    ),
    # the replay tool (its AWS configuration comes from the environment: a child process each)
    pytest.param(
        Case(("-m", "lambdas.replay", "list"), r"no AWS region: pass --region", how="process", env=_NO_AWS),
        id="replay-no-region",
    ),
    pytest.param(
        Case(
            ("-m", "lambdas.replay", "--region", "eu-west-3", "--state-machine-arn", _ARN, "list"),
            r"no AWS credentials",
            how="process",
            env=_NO_AWS | {"AWS_EC2_METADATA_DISABLED": "true"},
        ),
        id="replay-no-credentials",
    ),
    pytest.param(
        Case(
            ("-m", "lambdas.replay", "--region", "eu-west-3", "--state-machine-arn", _ARN, "list"),
            r"cannot reach AWS",
            how="process",
            env=_NO_AWS
            | {
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                "AWS_MAX_ATTEMPTS": "1",
            },
        ),
        id="replay-no-network",
    ),
    pytest.param(Case(("run",), r"required: batch_id", module=_REPLAY), id="replay-missing-batch"),
    # the local flow (checked before the emulator starts)
    pytest.param(
        Case(("--images", "0"), r"--images: must be a positive integer", module=_FLOW), id="flow-no-images"
    ),
    pytest.param(
        Case(("--images", "1000"), r"the sample has \d+ photos", module=_FLOW), id="flow-too-many-images"
    ),
    pytest.param(
        Case(("--out", "{tmp}/file/sub"), r"--out .*: cannot create it", module=_FLOW), id="flow-bad-out"
    ),
    # synth: an unknown or misspelled setting is refused with the closest known one (the real CLI)
    pytest.param(
        Case(
            ("-c", "regoin=eu-west-1"), r"unknown context key 'regoin' \(did you mean 'region'\?\)", 1, "cdk"
        ),
        id="cdk-misspelled-key",
        marks=[pytest.mark.synth, pytest.mark.slow],
    ),
    pytest.param(
        Case(
            ("-c", "no_such_key=1"),
            r"unknown context key 'no_such_key' \(no setting has a similar name\)",
            1,
            "cdk",
        ),
        id="cdk-unknown-key",
        marks=[pytest.mark.synth, pytest.mark.slow],
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_a_failure_is_one_clear_line(case: Case, request, tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "relative.jsonl").write_text('{"uri": "data/sample/x.jpg"}\n')
    (tmp_path / "file").write_text("not a folder")
    store = tmp_path / "store"
    if request.node.get_closest_marker("spark"):
        request.getfixturevalue("spark")
        shutil.copytree(request.getfixturevalue("sample_store")[0], store)
    argv = [a.format(tmp=tmp_path, store=store) for a in case.argv]
    monkeypatch.chdir(REPO)
    if case.how == "main":
        code, stderr = _call(case.module, argv, capsys)
    else:
        code, stderr = _child(case, argv, tmp_path)
    # A child's stderr is all its own: a local Spark session prints nothing before the error line.
    noise = None if case.how == "process" else _NOISE
    ours = [line for line in stderr.splitlines() if line.strip() and not (noise and noise.match(line))]
    if case.how == "cdk":  # the CLI adds its own lines about the app's exit
        ours = [line for line in ours if line.startswith("Configuration error:")]
    assert code == case.code, stderr
    assert "Traceback" not in stderr
    assert len(ours) == 1, stderr
    assert re.search(case.line, ours[0]), ours[0]
    assert not (store / "pca_models").exists()  # a failed fit leaves no empty registry behind


def _call(module: str, argv: list[str], capsys) -> tuple[int, str]:
    """``main(argv)`` of a command in this process: its exit code and what it printed on stderr."""
    try:
        code = importlib.import_module(module).main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def _child(case: Case, argv: list[str], tmp_path: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))} | case.env
    if case.how == "cdk":
        assert CDK.exists(), "CDK CLI not installed: run `make setup` (npm ci) first"
        env |= {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
        command = [
            str(CDK),
            "synth",
            "--no-notices",
            "--no-version-reporting",
            "-o",
            str(tmp_path / "cdk.out"),
        ]
    else:  # "process": python -S has no site-packages (spark-submit's default python3 has none either)
        command = [sys.executable, *(["-S"] if "spark_app/__main__.py" in argv else [])]
    proc = subprocess.run(
        [*command, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    if case.how == "cdk":
        assert not (tmp_path / "cdk.out" / "FruitsPipeline.template.json").exists()
    return proc.returncode, proc.stderr
