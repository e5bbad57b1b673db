"""``spark_app classifier``: the gate on the command line, the new training options, the summary."""

from __future__ import annotations

import numpy as np
import pytest

from spark_app.cli.classifier import build_parser, correction_line, gate_line, main
from spark_app.models import gate, registry


def _save(model_dir: str, name: str, verdict: dict) -> None:
    info = {"labels": ["Kiwi", "Lemon"], "features": "raw", gate.GATE_KEY: verdict}
    version = registry.Version(name, registry.CLASSIFIER_KIND, registry.now_iso(), "cnn@x", info)
    registry.save_version(model_dir, version, {"weights": np.zeros((2, 3)), "intercepts": np.zeros(2)})


def test_promote_gate_refuses_in_one_line_and_changes_nothing(tmp_path, capsys) -> None:
    model_dir = str(tmp_path)
    _save(model_dir, "clf-raw-a", {"passed": True, "against": None, "reasons": []})
    assert main(["promote", "--classifier-dir", model_dir, "--gate"]) == 0
    assert '"promoted": "clf-raw-a"' in capsys.readouterr().out
    _save(model_dir, "clf-raw-b", {"passed": False, "against": "clf-raw-a", "reasons": ["top-1 0.9 is low"]})

    assert main(["promote", "--classifier-dir", model_dir, "--gate"]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "spark_app classifier: error: the gate refused clf-raw-b: top-1 0.9 is low; nothing promoted"
    ]
    assert registry.promoted_version(model_dir) == "clf-raw-a"
    assert (
        main(["promote", "--classifier-dir", model_dir, "--version", "clf-raw-b"]) == 0
    )  # an operator's override


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--reg-params", "0.1,x", "must be numbers separated by commas"),
        ("--heads", "logistic,forest", "choose among logistic, nearest"),
        ("--folds", "1", "must be at least 2"),
        ("--max-weight-per-identity", "0", "must be a positive number"),
    ],
)
def test_bad_training_options_are_refused_before_spark_starts(option, value, message, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["train", "--store", "s", "--classifier-dir", "c", option, value])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_the_defaults_are_the_documented_ones() -> None:
    args = build_parser().parse_args(["train", "--store", "s", "--classifier-dir", "c"])
    assert args.reg_params == (1e-4, 1e-3, 1e-2, 3e-2, 1e-1) and args.heads == ("logistic", "nearest")
    assert (args.folds, args.max_weight_per_identity, args.corrections) == (3, 5.0, None)


def test_the_summary_says_what_became_of_the_corrections_and_the_gate() -> None:
    counts = {"read": 503, "images": 501, "identities": 2, "weight": 6.0, "new_class": 1, "curated": 1}
    assert correction_line(counts) == (
        "503 read: 501 image(s) from 2 identit(y/ies), weight 6.00; "
        "not used: 1 new-class proposal(s), 1 of curated images"
    )
    assert correction_line({"read": 0, "unreadable": 0}) == "none"
    passed = {"passed": True, "against": "clf-a", "promoted_top1": 0.99, "note": "", "reasons": []}
    assert gate_line(passed) == "passed vs clf-a (0.9900)"
    first = {"passed": True, "against": None, "promoted_top1": None, "note": "nothing promoted yet"}
    assert gate_line(first) == "passed (nothing promoted yet)"
    assert gate_line({"passed": False, "reasons": ["a", "b"]}) == "REFUSED: a; b"
