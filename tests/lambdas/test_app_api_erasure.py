"""``DELETE /me``: the signing identity's erasure starts (moto's Step Functions), never another's; every
reply is the documented one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest

from lambdas.app_api.config import ROUTE_ERASE_ME, load_config
from lambdas.app_api.service import dispatch
from tests.lambdas.app_api_world import (
    CONFIG,
    ENVIRONMENT,
    IDENTITY_A,
    IDENTITY_B,
    REGION,
    AppWorld,
    api_event,
    open_app_world,
)
from tests.lambdas.test_app_api_contract import _conforms

ROLE = "arn:aws:iam::123456789012:role/erasure"
DEFINITION = json.dumps({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}})


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AppWorld, str]]:
    for app_world in open_app_world(monkeypatch):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name="fruits-erasure", definition=DEFINITION, roleArn=ROLE)[
            "stateMachineArn"
        ]
        yield replace(app_world, clients=replace(app_world.clients, stepfunctions=sfn)), arn


def _call(world: AppWorld, arn: str | None, event: dict) -> tuple[int, dict]:
    response = dispatch(event, replace(CONFIG, erasure_state_machine_arn=arn), world.clients, world.now)
    body = json.loads(response["body"])
    _conforms(ROUTE_ERASE_ME, response["statusCode"], body)
    return response["statusCode"], body


def test_delete_me_starts_the_erasure_of_the_signer_only(world) -> None:
    app_world, arn = world
    status, body = _call(app_world, arn, api_event(ROUTE_ERASE_ME, identity=IDENTITY_B))
    assert status == 202 and body["status"] == "started" and len(body["erasure_id"]) == 32
    sfn = app_world.clients.stepfunctions
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert execution["name"] == body["erasure_id"]
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started == {"identity_id": IDENTITY_B, "erasure_id": body["erasure_id"]}
    assert IDENTITY_A not in json.dumps(started)


def test_an_identity_named_in_the_body_is_refused_and_nothing_starts(world) -> None:
    app_world, arn = world
    event = api_event(ROUTE_ERASE_ME, identity=IDENTITY_A, body={"identity_id": IDENTITY_B})
    assert _call(app_world, arn, event) == (
        400,
        {"error": "body_not_allowed", "message": "DELETE /me takes no body: it erases the signing identity"},
    )
    assert _call(app_world, arn, api_event(ROUTE_ERASE_ME, identity=None))[0] == 403
    assert app_world.clients.stepfunctions.list_executions(stateMachineArn=arn)["executions"] == []


def test_without_a_state_machine_the_route_answers_503(world) -> None:
    app_world, _ = world
    assert _call(app_world, None, api_event(ROUTE_ERASE_ME))[1]["error"] == "erasure_unavailable"


def test_the_state_machine_arn_comes_from_the_environment() -> None:
    assert load_config(ENVIRONMENT).erasure_state_machine_arn is None
    env = {
        **ENVIRONMENT,
        "ERASURE_STATE_MACHINE_ARN": "arn:aws:states:eu-west-3:1:stateMachine:fruits-erasure",
    }
    assert load_config(env).erasure_state_machine_arn.endswith(":fruits-erasure")
