"""``python -m lambdas.replay list`` / ``python -m lambdas.replay run <batch_id>``.

``list`` prints the batches whose executions all failed (failed, timed out or aborted, with no replay
running or succeeded), with their manifest. ``run`` starts a replay of one: a new execution named
``<batch_id>-r<n>`` with the original input (same manifest, same output partition, which the job
replaces). Running it again while that replay runs or after it succeeded starts nothing (exit 0).
The state machine comes from ``--state-machine-arn``, else ``$FRUITS_STATE_MACHINE_ARN``, else the
``StateMachineArn`` output of the deployed ``FruitsPipeline`` stack.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from lambdas.ingest.executions import FAILED_STATUSES, batch_statuses, decide, execution_arn
from spark_app.core.arguments import OneLineParser

ENV_STATE_MACHINE_ARN = "FRUITS_STATE_MACHINE_ARN"
STACK_NAME = "FruitsPipeline"
STACK_OUTPUT = "StateMachineArn"
EXIT_OK, EXIT_USAGE = 0, 2


class ReplayError(RuntimeError):
    """A replay that cannot be done (the message says why)."""


def state_machine_arn(explicit: str | None, cloudformation: Any) -> str:
    """The pipeline's state machine: given, from the environment, or from the stack's outputs."""
    if explicit or os.environ.get(ENV_STATE_MACHINE_ARN):
        return explicit or os.environ[ENV_STATE_MACHINE_ARN]
    try:
        (stack,) = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"]
    except Exception as exc:
        raise ReplayError(
            f"cannot read the {STACK_NAME} stack's outputs ({exc}); pass --state-machine-arn"
        ) from None
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == STACK_OUTPUT:
            return output["OutputValue"]
    raise ReplayError(f"the {STACK_NAME} stack has no {STACK_OUTPUT} output; pass --state-machine-arn")


def failed_batches(stepfunctions: Any, machine: str) -> list[dict[str, Any]]:
    """Batches whose every execution failed: ``{batch_id, status, stopped, manifest_uri, next}``."""
    seen: dict[str, dict[str, Any]] = {}
    for status in FAILED_STATUSES:
        pages = stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter=status
        )
        for page in pages:
            for execution in page["executions"]:
                described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
                batch_id = json.loads(described.get("input") or "{}").get("batch_id")
                if batch_id and batch_id not in seen:
                    seen[batch_id] = {"status": status, "stopped": str(execution.get("stopDate", ""))}
    out = []
    for batch_id, info in sorted(seen.items()):
        statuses, original = batch_statuses(stepfunctions, machine, batch_id)
        decision = decide(batch_id, statuses)
        if decision.start:
            out.append(
                {
                    "batch_id": batch_id,
                    **info,
                    "manifest_uri": original.get("manifest_uri"),
                    "next": decision.start,
                }
            )
    return out


def replay(stepfunctions: Any, machine: str, batch_id: str) -> tuple[str | None, str]:
    """Start the next replay of ``batch_id`` if it needs one; returns (name started or None, why)."""
    statuses, original = batch_statuses(stepfunctions, machine, batch_id)
    if not statuses or statuses[0] is None:
        raise ReplayError(f"no execution named {batch_id} in {machine}: unknown batch")
    decision = decide(batch_id, statuses)
    if decision.start is None:
        return None, decision.reason
    try:
        stepfunctions.start_execution(
            stateMachineArn=machine, name=decision.start, input=json.dumps(original)
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        return None, f"{decision.start} was started meanwhile"
    return decision.start, decision.reason


def build_parser() -> OneLineParser:
    """The tool's arguments."""
    parser = OneLineParser(prog="python -m lambdas.replay", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-machine-arn",
        help=f"the pipeline's state machine (default: ${ENV_STATE_MACHINE_ARN}, "
        f"else the {STACK_NAME} stack's {STACK_OUTPUT} output)",
    )
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list failed batches that can be replayed")
    run = commands.add_parser("run", help="replay one failed batch")
    run.add_argument("batch_id", help="the batch to replay (its first execution's name)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stepfunctions = boto3.client("stepfunctions", region_name=args.region)
        machine = state_machine_arn(
            args.state_machine_arn, boto3.client("cloudformation", region_name=args.region)
        )
        if args.command == "list":
            batches = failed_batches(stepfunctions, machine)
            for b in batches:
                print(f"{b['batch_id']}  {b['status']}  {b['stopped']}  {b['manifest_uri']}  -> {b['next']}")
            print(f"{len(batches)} failed batch(es)")
            return EXIT_OK
        started, why = replay(stepfunctions, machine, args.batch_id)
    except ReplayError as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (BotoCoreError, ClientError) as exc:
        print(f"replay: error: {aws_error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"started {execution_arn(machine, started)} ({why})" if started else f"nothing started: {why}")
    return EXIT_OK


def aws_error_line(exc: Exception) -> str:
    """One readable line for an AWS SDK error, with what to do about the usual ones."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region (e.g. --region eu-west-3) or set AWS_REGION"
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials: configure a profile (aws configure / AWS_PROFILE) or set AWS_ACCESS_KEY_ID"
        )
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS ({exc}): check the network and the region"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused the request: {error.get('Code', 'error')}: {error.get('Message', exc)}"
    return str(exc).splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
