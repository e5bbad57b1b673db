"""The single pass's bookkeeping, without Spark: images flow on, failures and answers are accounted once."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from spark_app.job.outcomes import (
    AnswerTarget,
    OutcomeRecorder,
    OutcomesParam,
    PartitionOutcome,
    total,
)
from spark_app.store import objects
from tests.helpers.s3_faults import enforce_key_limit


def _batch(paths: list[str], failed: set[str]) -> pd.DataFrame:
    """An extracted batch as the workers return it (head columns included)."""
    rows = []
    for path in paths:
        bad = path in failed
        rows.append(
            {
                "path": path,
                "label": "Apple",
                "image_id": None if bad else f"id-{path}",
                "features": None if bad else np.ones(3, dtype=np.float32),
                "error_stage": "decode" if bad else None,
                "error": "not an image" if bad else None,
                "pca": None if bad else np.zeros(2, dtype=np.float32),
                "pca_version": None if bad else "pca-1",
                "predicted_label": None if bad else ("unknown" if path.endswith("b.jpg") else "Apple"),
                "confidence": None if bad else 0.9,
                "top3_labels": None if bad else np.array(["Apple", "Kiwi", "Lemon"], dtype=object),
                "top3_confidences": None if bad else np.array([0.9, 0.05, 0.05], dtype=np.float32),
                "classifier_version": None if bad else "clf-1",
            }
        )
    return pd.DataFrame(rows)


def test_recorder_yields_images_and_reports_failures_and_answers(tmp_path) -> None:
    reported: list[dict[int, PartitionOutcome]] = []
    target = AnswerTarget(str(tmp_path / "answers"), "/in", "b1", "mobilenet@abc")
    recorder = OutcomeRecorder(reported.append, lambda: 7, target)
    batches = [_batch(["/in/x/a.jpg", "/in/x/bad.jpg"], {"/in/x/bad.jpg"}), _batch(["/in/x/b.jpg"], set())]

    out = list(recorder(iter(batches)))

    assert [list(frame["path"]) for frame in out] == [["/in/x/a.jpg"], ["/in/x/b.jpg"]]
    failure = ("/in/x/bad.jpg", "Apple", "decode", "not an image")
    assert reported == [{7: PartitionOutcome(images=2, errors=(failure,), answers=3, unknown=1)}]
    written = {p.name: json.loads(p.read_text()) for p in (tmp_path / "answers").rglob("*.json")}
    assert written["bad.jpg.json"] == {
        "status": "error",
        "predicted_label": None,
        "error_stage": "decode",
        "error": "not an image",
        "batch_id": "b1",
        "model_version": "mobilenet@abc",
    }
    assert written["a.jpg.json"]["top3"][0] == {"label": "Apple", "confidence": 0.9}
    assert written["a.jpg.json"]["pca_version"] == "pca-1"
    assert written["b.jpg.json"]["predicted_label"] == "unknown"
    assert (tmp_path / "answers" / "x" / "a.jpg.json").is_file()  # the key keeps the upload's folders


def test_a_partition_run_twice_is_counted_once() -> None:
    param = OutcomesParam()
    first = PartitionOutcome(images=3, errors=(("p", None, "read", "gone"),))
    merged = param.zero({})
    for update in ({0: first}, {1: PartitionOutcome(images=2)}, {0: first}):  # partition 0 retried
        merged = param.addInPlace(merged, update)
    outcome = total(merged, inputs=6)
    assert (outcome.images, outcome.errors, outcome.by_stage) == (5, 1, {"read": 1})
    assert outcome.error_rows == [{"path": "p", "label": None, "error_stage": "read", "error": "gone"}]


def test_outcomes_that_do_not_add_up_fail_the_batch() -> None:
    with pytest.raises(RuntimeError, match="accounting mismatch: 2 rows \\+ 0 errors != 3 inputs"):
        total({0: PartitionOutcome(images=2)}, inputs=3)


def test_batch_answers_without_a_classifier_say_so() -> None:
    frame = _batch(["s3://uploads/u/1.jpg"], set()).assign(
        predicted_label=None, confidence=None, top3_labels=None, top3_confidences=None
    )
    [(key, answer)] = AnswerTarget("s3://r/answers", None, "b", "m").answers(frame)
    assert key == "u/1.jpg" and answer["status"] == "no_classifier" and answer["top3"] == []


# -- one upload's failure stays that upload's ------------------------------------------------------


def test_a_key_too_long_for_its_answer_is_that_uploads_error(monkeypatch) -> None:
    """An upload key near S3's 1,024 bytes: its answer key (answers/ + key + .json) is over the limit."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.delenv(objects.ENDPOINT_ENV, raising=False)
    objects._clients.clear()
    poison = "s3://ingest/uploads/" + "k" * 1010 + ".jpg"  # a valid upload key (1,022 bytes)
    with mock_aws():
        boto3.client("s3", region_name="eu-west-3").create_bucket(
            Bucket="results", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
        refused = enforce_key_limit(objects.s3_client())  # moto does not enforce S3's key limit
        reported: list[dict[int, PartitionOutcome]] = []
        target = AnswerTarget("s3://results/answers", None, "b1", "mobilenet@abc")
        batch = _batch(
            ["s3://ingest/uploads/a.jpg", poison, "s3://ingest/uploads/bad.jpg"],
            {"s3://ingest/uploads/bad.jpg"},
        )

        out = list(OutcomeRecorder(reported.append, lambda: 0, target)(iter([batch])))

        written = boto3.client("s3", region_name="eu-west-3").list_objects_v2(Bucket="results")["Contents"]
    objects._clients.clear()
    assert [list(frame["path"]) for frame in out] == [["s3://ingest/uploads/a.jpg"]]  # the batch goes on
    [outcome] = reported[0].values()
    assert (outcome.images, outcome.answers) == (1, 2)
    errors = {path: (stage, reason) for path, _label, stage, reason in outcome.errors}
    assert errors["s3://ingest/uploads/bad.jpg"] == ("decode", "not an image")
    stage, reason = errors[poison]
    assert stage == "answer" and reason.startswith("answer not written") and "KeyTooLongError" in reason
    assert len(refused) == 2  # its answer, then its error answer: neither can exist
    assert sorted(o["Key"] for o in written) == ["answers/uploads/a.jpg.json", "answers/uploads/bad.jpg.json"]


def test_an_answer_write_that_throws_makes_an_error_answer(tmp_path, monkeypatch) -> None:
    real_create = objects.create_text
    thrown: list[str] = []

    def create_failing_once(uri: str, text: str) -> bool:
        if uri.endswith("b.jpg.json") and not thrown:
            thrown.append(uri)
            raise RuntimeError("connection reset by peer")
        return real_create(uri, text)

    monkeypatch.setattr(objects, "create_text", create_failing_once)
    reported: list[dict[int, PartitionOutcome]] = []
    target = AnswerTarget(str(tmp_path / "answers"), "/in", "b1", "mobilenet@abc")
    batch = _batch(["/in/x/a.jpg", "/in/x/b.jpg"], set())

    out = list(OutcomeRecorder(reported.append, lambda: 3, target)(iter([batch])))

    assert [list(frame["path"]) for frame in out] == [["/in/x/a.jpg"]]
    failure = ("/in/x/b.jpg", "Apple", "answer", "answer not written: connection reset by peer")
    assert reported == [{3: PartitionOutcome(images=1, errors=(failure,), answers=2, unknown=0)}]
    answer = json.loads((tmp_path / "answers" / "x" / "b.jpg.json").read_text())
    assert (answer["status"], answer["error_stage"], answer["error"]) == ("error", "answer", failure[3])
