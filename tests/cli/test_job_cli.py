"""The feature job's command line: help, clear one-line errors for user mistakes, no stack traces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from spark_app.cli import main
from spark_app.job.inputs import InputError, discover_from_manifest, discover_from_root
from spark_app.job.summary import RunSummary, format_summary
from spark_app.store import objects as storage
from tests.helpers.images import BUNDLED_SAMPLE, REPO


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m spark_app ...`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "spark_app", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _copy_sample_class(root: Path, label: str, count: int) -> None:
    """The first ``count`` bundled images of one class, under ``root/<label>/``."""
    (root / label).mkdir(parents=True)
    for source in sorted((BUNDLED_SAMPLE / "Training" / label).glob("*.jpg"))[:count]:
        (root / label / source.name).write_bytes(source.read_bytes())


def test_help_lists_the_options_and_the_commands(capsys) -> None:
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    for option in (
        "--input",
        "--manifest",
        "--output",
        "--pca-model",
        "--classifier",
        "--backend",
        "--weights",
    ):
        assert option in out
    for option in ("--s3-endpoint-url", "--batch-id", "--answers", "--glue-database", "--master"):
        assert option in out
    for command in ("pca ", "classifier ", "sql "):
        assert command in out
    assert "--pca-k" not in out and "--pca-fit-any-size" not in out  # a job never fits a basis


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "o"], "one of the arguments --input --manifest is required"),
        (["--input", "nowhere", "--output", "o"], "--input folder not found: nowhere"),
        (["--manifest", "missing.jsonl", "--output", "o"], "--manifest file not found"),
        (["--input", str(BUNDLED_SAMPLE), "--manifest", "m", "--output", "o"], "not allowed with"),
        (
            ["--input", str(BUNDLED_SAMPLE), "--output", "o", "--confidence-threshold", "1.5"],
            "must be in (0, 1]",
        ),
        (
            ["--input", str(BUNDLED_SAMPLE), "--output", "o", "--batch-size", "0"],
            "must be a positive integer",
        ),
        (["--input", str(BUNDLED_SAMPLE), "--output", "o", "--batch-id", "a/b"], "invalid batch id"),
        (["--input", str(BUNDLED_SAMPLE), "--output", "o", "--weights", "no.h5"], "--weights file not found"),
        (["--input", str(BUNDLED_SAMPLE), "--output", "o", "--backend", "torch"], "invalid choice"),
        (
            ["--input", str(BUNDLED_SAMPLE), "--output", "o", "--pca-k", "3"],
            "unrecognized arguments: --pca-k",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_message(capsys, args: list[str], message: str) -> None:
    code, _, err = run_main(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and "java" not in err.lower()


def test_bad_manifest_and_wrong_weights_fail_before_spark(capsys, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"uri": "/a.jpg"}\n{oops\n')
    code, _, err = run_main(capsys, "--manifest", str(manifest), "--output", str(tmp_path / "o"))
    assert code == 2 and "manifest line 2: not valid JSON" in err and "Traceback" not in err
    other = tmp_path / "other.weights.h5"
    other.write_bytes(b"not weights")
    code, _, err = run_main(
        capsys, "--input", str(BUNDLED_SAMPLE), "--output", str(tmp_path / "o"), "--weights", str(other)
    )
    assert code == 2 and "--weights-sha256" in err
    code, _, _ = run_main(capsys, "--input", str(tmp_path / "o2"), "--output", str(tmp_path / "o"))
    assert code == 2


def test_empty_folder_is_a_clear_error(capsys, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(capsys, "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "o"))
    assert code == 2
    assert err.strip() == f"spark_app: error: no files found in {tmp_path / 'empty'}"


@mock_aws
def test_s3_prefix_listing_and_missing_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    storage._clients.clear()
    s3 = boto3.client("s3", region_name="eu-west-3")
    s3.create_bucket(Bucket="photos", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    for key in ("in/Kiwi/a 1.jpg", "in/b.png", "in/Kiwi/", "other/c.jpg"):
        s3.put_object(Bucket="photos", Key=key, Body=b"x")
    items = discover_from_root("s3://photos/in")
    assert [(i.uri, i.label) for i in items] == [
        ("s3://photos/in/Kiwi/a 1.jpg", "Kiwi"),
        ("s3://photos/in/b.png", None),
    ]
    with pytest.raises(InputError, match="bucket of s3://missing-bucket/x does not exist"):
        discover_from_root("s3://missing-bucket/x")
    with pytest.raises(InputError, match="object not found"):
        discover_from_manifest("s3://photos/manifests/none.jsonl")
    storage._clients.clear()


def test_summary_names_counts_and_outputs() -> None:
    summary = RunSummary(
        batch_id="b1",
        inputs=10,
        images=8,
        errors=2,
        seconds=4.0,
        files_per_second=2.5,
        model_version="m@1",
        model_builds=2,
        features_path="out/features/batch_id=b1",
        errors_path="out/errors/batch_id=b1",
        errors_by_stage={"decode": 1, "format": 1},
        pca_version="pca-k3",
        pca_k=3,
        classifier_note="no classifier promoted in out/classifiers yet",
    )
    text = format_summary(summary)
    for expected in (
        "inputs         10",
        "images         8",
        "errors         2  (decode: 1, format: 1)",
        "2.5 files/s",
        "pca-k3 (k=3, promoted)",
        "classifier     none (no classifier promoted in out/classifiers yet)",
        "out/features/batch_id=b1",
    ):
        assert expected in text
    empty = format_summary(RunSummary("b2", 1, 0, 1, 1.0, 1.0, "m@1", 1, None, "out/errors/batch_id=b2"))
    assert "features at    nothing written (no image in this batch)" in empty


@mock_aws
def test_output_to_a_missing_bucket_or_unwritable_folder_fails_before_spark(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    storage._clients.clear()
    with pytest.raises(storage.StorageError, match="output bucket no-such-bucket does not exist"):
        storage.check_writable("s3://no-such-bucket/features")
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(storage.StorageError, match="cannot create output folder"):
        storage.check_writable(str(blocker / "out"))
    code, _, err = run_main(capsys, "--input", str(BUNDLED_SAMPLE), "--output", str(blocker / "out"))
    assert code == 2 and "cannot create output folder" in err and "Traceback" not in err
    storage._clients.clear()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_submit_from_another_folder_runs_the_job(tmp_path: Path) -> None:
    _copy_sample_class(tmp_path / "in", "Kiwi", 4)
    spark_submit = Path(sys.executable).parent / "spark-submit"
    proc = subprocess.run(
        [
            str(spark_submit),
            "--master",
            "local[2]",
            str(REPO / "spark_app" / "__main__.py"),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "images         4" in proc.stdout


@pytest.mark.spark
@pytest.mark.slow
def test_keras_backend_runs_end_to_end(tmp_path: Path) -> None:
    """The selectable Keras backend, in its own Spark session (TensorFlow must not meet LiteRT)."""
    _copy_sample_class(tmp_path / "in", "Lemon", 3)
    proc = cli(
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--backend",
        "keras",
        "--batch-id",
        "keras",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "images         3" in proc.stdout
    import pandas as pd

    rows = pd.read_parquet(tmp_path / "out" / "features" / "batch_id=keras")
    assert rows["features"].map(len).eq(1280).all() and set(rows["label"]) == {"Lemon"}
