"""The local end-to-end flow on a handful of uploads: every upload ends up exactly once in the outputs.

One flow run (one Spark run) is shared by the module: 6 photos of 3 classes (curated, labelled by their
folder), a truncated JPEG and a text file named .jpg, one S3 notification sent twice and the first SQS
batch delivered twice.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.cdk_stack import TemplateError, evaluate_states_array
from tests.e2e.local_flow import FlowResult, bad_uploads, check, run_flow, sample_uploads

PHOTOS, CLASSES = 6, 3
FEATURE_DIM = 1280


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> FlowResult:
    uploads = sample_uploads(PHOTOS, classes=CLASSES) + bad_uploads()
    return run_flow(
        uploads,
        out_dir=tmp_path_factory.mktemp("local-e2e"),
        duplicate_delivery=True,
        spark_logs_to_files=True,
    )


def _log_tail(flow: FlowResult, lines: int = 40) -> str:
    logs = [run.log_file for run in flow.executions if run.log_file and run.log_file.is_file()]
    return "\n".join(line for log in logs for line in log.read_text().splitlines()[-lines:])


def _ingest_uri(flow: FlowResult, key: str) -> str:
    return f"s3://{flow.spec.names.ingestion_bucket}/{flow.spec.config.curated_prefix}{key}"


# ------------------------------------------------------------------------------- the flow


@pytest.mark.spark
@pytest.mark.slow
def test_one_execution_for_the_batch_despite_duplicate_deliveries(flow: FlowResult) -> None:
    first, second = flow.invocations  # the first batch's acknowledgements were dropped once
    assert first.acknowledgements_dropped and not second.acknowledgements_dropped
    assert set(first.message_ids) == set(second.message_ids)
    # PHOTOS + 2 bad uploads + the s3:TestEvent + the duplicated notification, all in one batch.
    assert len(first.message_ids) == PHOTOS + 2 + 2
    assert first.failed_ids == second.failed_ids == ()

    (run,) = flow.executions
    assert run.name == run.input["batch_id"]
    # The duplicated notification names an object already in the batch: one manifest entry.
    assert run.input["image_count"] == PHOTOS + 2
    manifests = flow.out_dir / flow.spec.names.artifacts_bucket / flow.spec.config.manifests_prefix
    manifest = manifests / f"{run.name}.jsonl"
    assert manifest.is_file() and len(manifest.read_text().splitlines()) == PHOTOS + 2


@pytest.mark.spark
@pytest.mark.slow
def test_the_job_runs_with_the_state_machines_arguments(flow: FlowResult) -> None:
    (run,) = flow.executions
    assert run.exit_code == 0, _log_tail(flow)
    assert run.status == "SUCCEEDED"
    names, config = flow.spec.names, flow.spec.config
    assert run.arguments == [
        *evaluate_states_array(flow.spec.entry_point_arguments(), run.input),
        "--s3-endpoint-url",
        flow.endpoint,
    ]
    arguments = dict(zip(run.arguments[::2], run.arguments[1::2], strict=True))
    assert arguments["--manifest"] == run.input["manifest_uri"]
    assert arguments["--batch-id"] == run.name
    assert arguments["--output"] == f"s3://{names.results_bucket}/{config.features_prefix.rstrip('/')}"
    assert arguments["--weights"] == f"s3://{names.artifacts_bucket}/{config.weights_key}"


@pytest.mark.spark
@pytest.mark.slow
def test_every_upload_is_in_features_or_errors_exactly_once(flow: FlowResult) -> None:
    seen = Counter([*flow.features["path"], *flow.errors["path"]])
    assert seen == Counter(flow.uploads), _log_tail(flow)
    assert check(flow) == []


@pytest.mark.spark
@pytest.mark.slow
def test_corrupt_and_non_image_uploads_are_errors_with_reasons(flow: FlowResult) -> None:
    errors = {row.path: row for row in flow.errors.itertuples()}
    corrupt, not_image = (_ingest_uri(flow, upload.key) for upload in bad_uploads())
    assert set(errors) == {corrupt, not_image}
    assert errors[corrupt].error_stage == "decode" and "truncated" in errors[corrupt].error
    assert errors[not_image].error_stage == "decode" and "not a supported image" in errors[not_image].error
    assert {row.label for row in errors.values()} == {"Kiwi"}


@pytest.mark.spark
@pytest.mark.slow
def test_features_have_1280_values_and_the_folder_as_label(flow: FlowResult) -> None:
    features = flow.features
    assert len(features) == PHOTOS
    for row in features.itertuples():
        vector = np.asarray(row.features)
        assert vector.shape == (FEATURE_DIM,) and np.isfinite(vector).all()
        assert row.label == Path(row.path).parent.name
    assert features["label"].nunique() == CLASSES
    assert set(features["batch_id"].astype(str)) == {flow.executions[0].name}


@pytest.mark.spark
@pytest.mark.slow
def test_nothing_is_left_in_the_queues(flow: FlowResult) -> None:
    assert flow.left_in_queue == 0
    assert flow.in_dead_letter_queue == 0


# ------------------------------------------------------------------------------- pure helpers


def test_states_array_substitutes_paths_and_unescapes_literals() -> None:
    expression = r"States.Array('--manifest', $.manifest_uri, '--note', 'it\'s', $.nested.id)"
    values = evaluate_states_array(expression, {"manifest_uri": "s3://b/m.jsonl", "nested": {"id": "x"}})
    assert values == ["--manifest", "s3://b/m.jsonl", "--note", "it's", "x"]


@pytest.mark.parametrize(
    "expression",
    ["States.Format('{}', $.a)", "States.Array($.missing)", "States.Array($.count)", "States.Array('a' 'b')"],
)
def test_states_array_rejects_what_it_cannot_evaluate(expression: str) -> None:
    with pytest.raises(TemplateError):
        evaluate_states_array(expression, {"a": "x", "count": 3})


# ------------------------------------------------------------------------------- the instant answers


@pytest.mark.spark
@pytest.mark.slow
def test_curated_data_is_answered_by_the_batch_not_on_arrival(flow: FlowResult) -> None:
    """The instant-answer rule matches the app's uploads prefix only; the batch answers curated data."""
    instant, keys = flow.instant, [uri.split("/", 3)[3] for uri in flow.uploads]
    assert all(k.startswith(flow.spec.config.curated_prefix) for k in keys)
    assert instant is not None and instant.events == 0 and instant.results == {}
    (run,) = flow.executions
    assert all(flow.answers[k]["batch_id"] == run.name for k in keys)
    statuses = {k: flow.answers[k]["status"] for k in keys}
    assert sorted(k for k, s in statuses.items() if s == "error") == sorted(
        f"{flow.spec.config.curated_prefix}{u.key}" for u in bad_uploads()
    )
    summary = json.loads((flow.local_copy / "runs" / f"{run.name}.json").read_text())
    assert (summary["answers_written"], summary["answers_kept"]) == (PHOTOS + 2, 0)


def test_the_documented_snippet_reads_the_local_copy(flow: FlowResult, tmp_path: Path, monkeypatch) -> None:
    """docs/local-e2e.md's pandas block, as written, on this run's local copy (``out/local-e2e/``)."""
    from tests.docs.blocks import REPO, blocks

    (snippet,) = [b for b in blocks(REPO / "docs" / "local-e2e.md") if b.language == "python"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "local-e2e").symlink_to(flow.out_dir)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet.source, snippet.id, "exec"), namespace)
    assert (
        len(namespace["features"]) == len(flow.features) and len(namespace["features"]["features"][0]) == 1280
    )
    assert sorted(namespace["errors"]["path"]) == sorted(flow.errors["path"])
