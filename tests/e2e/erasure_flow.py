"""The erasure step of the local flow: identity B asks ``DELETE /me`` through the app API, the erasure
state machine's pass runs (``spark_app erase`` with the arguments the template gives it), then every
object of every bucket (all versions), the identity table and every local output are searched for B's
id, its photos' ids and keys, and their image ids. Then B sends a photo again: it is answered as usual.
(B, not A: A's correction stays for the flow's correction checks, and shows another identity untouched.)

Two local departures from the template's arguments: ``--hold-seconds 0`` (nothing can arrive late here:
no other process holds B's credentials; the template keeps 3600) and no ``--delete-cognito-identity``
(moto has no DeleteIdentities; docs/deploy.md lists it as unproven). Spark's own logs under
``<out>/logs`` are reported apart: logs keep keys for their documented retention (docs/gdpr.md).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.conformance.recorder import PRINCIPAL_ENV
from tests.e2e.app_flow import AppFlow, _upload_key, app_photos
from tests.e2e.cdk_stack import StackSpec, TemplateResolver, evaluate_states_array
from tests.helpers.erasure_scan import Finding, scan_bytes, scan_local, scan_s3

#: The principal the erasure pass records as in tests/conformance (its own role, cdk_app/erasure.py).
ERASURE_PRINCIPAL = "erasure"
#: The identity erased (the second app install), and arguments the local flow changes (module docstring).
ERASED = "B"
LOCAL_HOLD = ("--hold-seconds", "0")
NOT_IN_MOTO = "--delete-cognito-identity"


@dataclass
class ErasureResult:
    """What the erasure step did and what the scan found."""

    identity_id: str
    erasure_id: str
    arguments: list[str]
    exit_code: int
    receipt: dict[str, Any]
    needles: list[str]
    #: Findings outside logs: must be empty.
    found: list[Finding]
    #: Findings in Spark's logs (documented retention), reported, allowed.
    in_logs: list[Finding]
    seconds: float
    #: The answer Lambda's result for a photo A sent after its erasure.
    again: dict[str, Any] = field(default_factory=dict)


def erasure_machine(spec: StackSpec) -> tuple[str, dict[str, Any]]:
    """The erasure state machine's ARN and properties, from the template."""
    template = json.loads(spec.template_path.read_text())
    resolver = TemplateResolver(template, account=spec.account, region=spec.region)
    name = f"{spec.config.name_prefix}-erasure"
    logical, props = resolver.find("AWS::StepFunctions::StateMachine", "StateMachineName", name)
    return resolver.ref(logical), props


def pass_arguments(definition: str, execution_input: dict[str, Any], endpoint: str) -> list[str]:
    """The ErasePass job's arguments as the state machine builds them, with the local departures."""
    task = json.loads(definition)["States"]["ErasePass"]
    expression = task["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments.$"]
    arguments = [a for a in evaluate_states_array(expression, execution_input) if a != NOT_IN_MOTO]
    at = arguments.index(LOCAL_HOLD[0])
    arguments[at + 1] = LOCAL_HOLD[1]
    return [*arguments, "--s3-endpoint-url", endpoint]


def needles_of(app: AppFlow, identity_id: str, features: Any) -> list[str]:
    """The identity id, its photos' ids and upload keys, and their image ids (from the batches' rows)."""
    (identity,) = [i for i in app.identities if i.identity_id == identity_id]
    photos = [grant.photo_id for grant in identity.grants]
    keys = [f"{identity_id}/{photo}" for photo in photos]
    rows = features[features["path"].str.contains(f"/{identity_id}/", regex=False)] if len(features) else []
    return [identity_id, *photos, *keys, *(list(rows["image_id"]) if len(rows) else [])]


def erase_identity(
    *,
    clients: Any,
    spec: StackSpec,
    endpoint: str,
    app: AppFlow,
    relay: Any,
    features: Any,
    out_dir: Path,
    logs_dir: Path | None,
) -> ErasureResult:
    """Erase app identity B through the app, scan everything, then let B send a photo again."""
    from tests.e2e.local_flow import (
        clear_local_copy,
        collect_outputs,
        patched_environ,
        record_outcome,
        run_spark_app,
        started_executions,
    )

    started = time.monotonic()
    (identity,) = [i for i in app.identities if i.name == ERASED]
    needles = needles_of(app, identity.identity_id, features)
    arn, props = erasure_machine(spec)
    clients.sfn.create_state_machine(
        name=props["StateMachineName"], definition=props["DefinitionString"], roleArn=props["RoleArn"]
    )
    reply = identity.client.erase_me()
    (execution,) = started_executions(clients.sfn, arn)
    execution.arguments = pass_arguments(props["DefinitionString"], execution.input, endpoint)
    log_file = (logs_dir or out_dir / "logs") / f"erase-{execution.name}.log"
    print(f"\n== erasure {execution.name}: spark_app {' '.join(execution.arguments)}", flush=True)
    principal = {PRINCIPAL_ENV: ERASURE_PRINCIPAL} if PRINCIPAL_ENV in os.environ else {}
    with patched_environ(principal):
        execution.exit_code = run_spark_app(execution.arguments, log_file=log_file)
    record_outcome(spec, execution)
    lines = [line for line in log_file.read_text().splitlines() if line.startswith("{")]
    receipt = json.loads(lines[-1]) if lines else {}

    clear_local_copy(spec, out_dir)
    collect_outputs(clients.s3, spec, out_dir)  # the local copy, as it is after the erasure
    logs = out_dir / "logs"
    local = [f for f in scan_local(out_dir, needles) if not Path(f.where.split(" (")[0]).is_relative_to(logs)]
    found = scan_s3(clients.s3, needles) + _identity_table(app, needles) + local
    in_logs = scan_local(logs, needles) if logs.is_dir() else []
    seconds = time.monotonic() - started

    photo = app_photos(len(app.identities))[app.identities.index(identity)]  # its photo's bytes, again
    grant = identity.client.send_photo(photo.body, photo.content_type)
    key = _upload_key(grant)
    relay.uploaded(key)
    relay.wait([key])
    return ErasureResult(
        identity_id=identity.identity_id,
        erasure_id=reply["erasure_id"],
        arguments=execution.arguments,
        exit_code=execution.exit_code,
        receipt=receipt,
        needles=needles,
        found=found,
        in_logs=in_logs,
        seconds=seconds,
        again=relay.report.results.get(key, {}),
    )


def _identity_table(app: AppFlow, needles: list[str]) -> list[Finding]:
    dynamodb = boto3.client("dynamodb", region_name=app.spec.region)
    items = dynamodb.scan(TableName=app.app.identity_table["TableName"])["Items"]
    return scan_bytes("dynamodb:identity-table", json.dumps(items).encode(), needles)


def erasure_problems(result: ErasureResult | None) -> list[str]:
    """What is wrong with the erasure step (empty when nothing of the identity is left)."""
    if result is None:
        return []
    problems = [f"erasure pass exited with {result.exit_code}"] if result.exit_code else []
    if result.receipt.get("status") != "done":
        problems.append(f"erasure receipt is {result.receipt.get('status')!r}, not 'done'")
    problems += [f"after the erasure, {f.needle[:24]}... is still in {f.where}" for f in result.found]
    if result.again.get("status") not in ("ok", "no_classifier"):
        problems.append(f"a photo sent after the erasure was not answered: {result.again}")
    return problems


def erasure_summary(result: ErasureResult | None) -> list[str]:
    """Lines of the flow's summary."""
    if result is None:
        return []
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.receipt.get("counts", {}).items()) if v)
    return [
        f"erasure        identity {ERASED} through DELETE /me: receipt {result.erasure_id} "
        f"{result.receipt.get('status')} in {result.seconds:.1f} s ({counts})",
        f"  scan         {len(result.needles)} needles (id, photo ids, keys, image ids) searched in every "
        f"bucket (all versions), the identity table and the local outputs: {len(result.found)} found; "
        f"{len(result.in_logs)} in the local Spark logs (job logs: 30 days on AWS)",
        f"  again        {ERASED}'s next photo answered: {result.again.get('status')}",
    ]
