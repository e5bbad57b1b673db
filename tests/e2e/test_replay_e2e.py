"""A batch whose job fails, replayed with the replay command: every upload ends up exactly once."""

from __future__ import annotations

import pytest

from lambdas.ingest.executions import replay_name
from tests.e2e.local_flow import FlowResult, bad_uploads, check, run_flow, sample_uploads

PHOTOS, CLASSES = 4, 2


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> FlowResult:
    return run_flow(
        sample_uploads(PHOTOS, classes=CLASSES) + bad_uploads(),
        out_dir=tmp_path_factory.mktemp("replay"),
        duplicate_delivery=False,
        spark_logs_to_files=True,
        fail_then_replay=True,
    )


@pytest.mark.spark
@pytest.mark.slow
def test_a_failed_batch_replayed_is_accounted_exactly_once(flow: FlowResult) -> None:
    failed, replayed = flow.executions
    assert failed.exit_code == 2 and failed.status == "FAILED"
    assert replayed.name == replay_name(failed.name, 1) and replayed.status == "SUCCEEDED"
    assert replayed.input == failed.input  # same manifest, same batch id: the same output partition
    assert check(flow) == []  # every upload once in features + errors, queue empty
    assert len(flow.features) == PHOTOS and len(flow.errors) == 2
    assert set(flow.features["batch_id"]) == {failed.input["batch_id"]}
