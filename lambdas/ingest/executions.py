"""A batch's executions: the original (named by the batch id) and its replays (``<batch_id>-r<n>``).

Step Functions keeps a standard execution's name for 90 days, so a failed batch is re-run under a new
name, with the same input (same manifest, same ``batch_id``, hence the same output partition, which
the job replaces). The ingest Lambda (a re-uploaded failed batch) and the replay command
(``python -m lambdas.replay``) decide with the same functions here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Step Functions execution names: at most 80 characters.
MAX_NAME_LENGTH = 80
REPLAY_MARK = "-r"
RUNNING, SUCCEEDED = "RUNNING", "SUCCEEDED"
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
#: Stop looking for further replays after this many (a batch failing again and again needs a person).
MAX_REPLAYS = 50


def replay_name(batch_id: str, attempt: int) -> str:
    """``<batch_id>-r<attempt>``, shortened (with a hash of the id) when it would exceed 80 characters."""
    suffix = f"{REPLAY_MARK}{attempt}"
    if len(batch_id) + len(suffix) <= MAX_NAME_LENGTH:
        return batch_id + suffix
    digest = hashlib.sha256(batch_id.encode()).hexdigest()[:8]
    return f"{batch_id[: MAX_NAME_LENGTH - len(suffix) - 9]}-{digest}{suffix}"


def execution_names(batch_id: str, replays: int) -> list[str]:
    """The original and the first ``replays`` replay names, in order."""
    return [batch_id] + [replay_name(batch_id, n) for n in range(1, replays + 1)]


_REPLAY_RE = re.compile(rf"^(?P<base>.+){re.escape(REPLAY_MARK)}(?P<n>[1-9][0-9]*)$")


def replay_attempt(name: str) -> int:
    """0 for an original execution name, n for ``...-r<n>``."""
    match = _REPLAY_RE.match(name)
    return int(match["n"]) if match else 0


@dataclass(frozen=True)
class Decision:
    """What to do about a batch: start ``name`` (a replay) or nothing, and why."""

    start: str | None
    reason: str


def decide(batch_id: str, statuses: Sequence[str | None]) -> Decision:
    """From the statuses of the original and its replays in order (None: does not exist)."""
    existing = [
        (name, s) for name, s in zip(execution_names(batch_id, len(statuses) - 1), statuses, strict=True) if s
    ]
    if not existing:
        return Decision(None, f"no execution of batch {batch_id}")
    for name, status in existing:
        if status in (RUNNING, SUCCEEDED):
            return Decision(None, f"{name} is {status}: nothing to replay")
    attempt = len(existing)
    if attempt > MAX_REPLAYS:
        return Decision(None, f"batch {batch_id} failed {attempt} times: look at it before replaying again")
    return Decision(replay_name(batch_id, attempt), f"{existing[-1][0]} {existing[-1][1]}: replaying")


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:aws:states:<region>:<account>:execution:<state machine name>:<name>``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def batch_statuses(
    stepfunctions: Any, state_machine_arn: str, batch_id: str
) -> tuple[list[str | None], dict]:
    """Statuses of the original and its replays (until the first missing one), and the original's input."""
    statuses: list[str | None] = []
    original_input: dict = {}
    for attempt in range(MAX_REPLAYS + 2):
        name = batch_id if attempt == 0 else replay_name(batch_id, attempt)
        try:
            described = stepfunctions.describe_execution(executionArn=execution_arn(state_machine_arn, name))
        except stepfunctions.exceptions.ExecutionDoesNotExist:
            statuses.append(None)
            break
        statuses.append(described["status"])
        if attempt == 0:
            original_input = json.loads(described.get("input") or "{}")
    return statuses, original_input
