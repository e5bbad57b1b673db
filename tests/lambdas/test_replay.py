"""Replaying failed batches: naming, decisions, the replay command and the Lambda's re-upload path."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from lambdas.ingest.aws import start_execution
from lambdas.ingest.executions import (
    MAX_NAME_LENGTH,
    decide,
    execution_arn,
    replay_attempt,
    replay_name,
)
from lambdas.replay.__main__ import ReplayError, failed_batches, main, replay
from tests.lambdas.builders import ACCOUNT, REGION

BATCH = "batch-20261124T101500Z-0123abcd"


def test_replay_names_fit_step_functions_and_stay_distinct() -> None:
    assert replay_name(BATCH, 1) == f"{BATCH}-r1"
    assert replay_attempt(f"{BATCH}-r12") == 12 and replay_attempt(BATCH) == 0
    longest = "b" * 80
    names = {replay_name(longest, n) for n in (1, 2, 10, 100)}
    assert len(names) == 4 and all(len(n) <= MAX_NAME_LENGTH for n in names)
    assert replay_name(longest, 3) != replay_name("b" * 79 + "c", 3)  # the hash keeps ids apart
    assert replay_attempt(replay_name(longest, 7)) == 7


@pytest.mark.parametrize(
    ("statuses", "start"),
    [
        ([None], None),  # unknown batch
        (["RUNNING"], None),  # a redelivery
        (["SUCCEEDED"], None),
        (["FAILED", None], f"{BATCH}-r1"),
        (["TIMED_OUT", "FAILED", None], f"{BATCH}-r2"),
        (["FAILED", "RUNNING", None], None),  # its replay is under way
        (["ABORTED", "FAILED", "SUCCEEDED", None], None),
    ],
)
def test_what_to_do_about_a_batch(statuses: list, start: str | None) -> None:
    assert decide(BATCH, statuses).start == start


def _set_status(arn: str, status: str) -> None:
    from moto.stepfunctions.models import stepfunctions_backends

    execution = stepfunctions_backends[ACCOUNT][REGION].describe_execution(arn)
    execution.status, execution.stop_date = status, datetime.now()


def _start(aws, name: str, batch_id: str = BATCH) -> str:
    body = json.dumps({"batch_id": batch_id, "manifest_uri": f"s3://artifacts/manifests/{batch_id}.jsonl"})
    return aws.sfn.start_execution(stateMachineArn=aws.state_machine_arn, name=name, input=body)[
        "executionArn"
    ]


def test_the_replay_command_reruns_a_failed_batch_once(aws, capsys) -> None:
    machine = aws.state_machine_arn
    _set_status(_start(aws, BATCH), "FAILED")
    _start(aws, "batch-ok")  # running: not listed
    (listed,) = failed_batches(aws.sfn, machine)
    assert listed["batch_id"] == BATCH and listed["next"] == f"{BATCH}-r1"
    assert listed["manifest_uri"] == f"s3://artifacts/manifests/{BATCH}.jsonl"

    started, _ = replay(aws.sfn, machine, BATCH)
    assert started == f"{BATCH}-r1"
    again, why = replay(aws.sfn, machine, BATCH)  # idempotent while the replay runs
    assert again is None and "RUNNING" in why
    assert failed_batches(aws.sfn, machine) == []
    replayed = aws.execution_input(execution_arn(machine, started))
    assert replayed == aws.execution_input(execution_arn(machine, BATCH))  # same manifest, same partition

    _set_status(execution_arn(machine, started), "FAILED")
    assert main(["--state-machine-arn", machine, "run", BATCH]) == 0
    assert f"{BATCH}-r2" in capsys.readouterr().out
    _set_status(execution_arn(machine, f"{BATCH}-r2"), "SUCCEEDED")
    assert main(["--state-machine-arn", machine, "run", BATCH]) == 0
    assert "nothing started" in capsys.readouterr().out
    with pytest.raises(ReplayError, match="unknown batch"):
        replay(aws.sfn, machine, "batch-never-seen")
    assert main(["--state-machine-arn", machine, "run", "batch-never-seen"]) == 2


def test_reuploading_a_failed_batch_starts_a_replay_not_nothing(aws) -> None:
    machine, body = aws.state_machine_arn, json.dumps({"batch_id": BATCH})
    assert start_execution(aws.sfn, state_machine_arn=machine, name=BATCH, input_json=body) == BATCH
    # Redelivered while running: nothing new.
    assert start_execution(aws.sfn, state_machine_arn=machine, name=BATCH, input_json=body) is None
    _set_status(execution_arn(machine, BATCH), "FAILED")
    # The same photos uploaded again after the failure: a replay runs them.
    assert start_execution(aws.sfn, state_machine_arn=machine, name=BATCH, input_json=body) == f"{BATCH}-r1"
    assert start_execution(aws.sfn, state_machine_arn=machine, name=BATCH, input_json=body) is None
    assert len(aws.executions()) == 2


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "replay: error: no AWS region: pass --region"),
        ({"AWS_DEFAULT_REGION": REGION}, "replay: error: no AWS credentials"),
        (
            {
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "y",
                "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens on the discard port
                "AWS_MAX_ATTEMPTS": "1",
            },
            "replay: error: cannot reach AWS",
        ),
    ],
)
def test_without_region_credentials_or_network_the_command_says_so_in_one_line(
    environment: dict[str, str], message: str, tmp_path
) -> None:
    import os
    import subprocess
    import sys

    from tests.helpers.images import REPO

    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambdas.replay",
            "--state-machine-arn",
            "arn:aws:states:eu-west-3:1:stateMachine:m",
            "list",
        ],
        cwd=REPO,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
