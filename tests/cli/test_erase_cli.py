"""``python -m spark_app erase``: the receipt on stdout, one line and exit 2 for a bad identity or id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_app.cli import main
from spark_app.core.erasure import Layout
from tests.helpers.erasure_scan import scan_local
from tests.store.test_erasure_store import ALICE, alice_needles, only_bobs_twin_rows, seed

pytestmark = pytest.mark.fast


def test_the_command_erases_and_prints_the_receipt(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    layout = Layout(
        str(tmp_path / "store"), str(tmp_path / "ingest"), answers=str(tmp_path / "answers"),
        manifests=str(tmp_path / "ingest/manifests"),
    )  # fmt: skip
    uris = seed(layout)
    arguments = ["erase", "--identity", ALICE, "--store", layout.store, "--ingest", layout.ingest]
    arguments += ["--answers", layout.answers, "--manifests", layout.manifests, "--hold-seconds", "0"]
    assert main(arguments) == 0
    receipt = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert receipt["status"] == "done" and receipt["counts"]["feature_rows"] == 2
    assert only_bobs_twin_rows(scan_local(tmp_path, alice_needles(uris))) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--identity", "../uploads"], "identity id '../uploads' is not a Cognito identity id"),
        (["--identity", ALICE, "--erasure-id", "x"], "erasure id 'x' is not 32 lower-case hex digits"),
    ],
)
def test_a_bad_identity_or_id_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, arguments: list[str], message: str
) -> None:
    assert main(["erase", "--store", str(tmp_path / "store"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"spark_app erase: error: {message}")
    assert not (tmp_path / "store").exists()  # nothing written
