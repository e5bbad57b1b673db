"""The erasure in the stack: its state machine loops over passes until the receipt says done, its job role
deletes and rewrites only what an identity leaves, the app API may start it, the answer Lambda may list
the tombstones and nothing more."""

from __future__ import annotations

import json

from cdk_helpers import as_list, policy_statements, resolve_join

from cdk_app.erasure import ENV_ERASURE_STATE_MACHINE_ARN, ENV_FEATURE_STORE


def _machine(synth) -> tuple[str, dict]:
    machines = synth.resources("AWS::StepFunctions::StateMachine")
    (logical_id,) = [
        k for k, v in machines.items() if v["Properties"]["StateMachineName"] == "fruits-erasure"
    ]
    return logical_id, json.loads(resolve_join(machines[logical_id]["Properties"]["DefinitionString"]))


def test_the_state_machine_repeats_the_pass_until_the_receipt_says_done(synth) -> None:
    _, definition = _machine(synth)
    states = definition["States"]
    assert definition["StartAt"] == "ErasePass"
    assert states["ErasePass"]["Next"] == "ReadReceipt" and states["ReadReceipt"]["Next"] == "Done?"
    (done,) = states["Done?"]["Choices"]
    assert done == {"Variable": "$.pass.receipt.status", "StringEquals": "done", "Next": "Erased"}
    assert states["Done?"]["Default"] == "WaitForWriters" and states["WaitForWriters"]["Next"] == "ErasePass"
    assert states["WaitForWriters"]["Seconds"] == 600
    arguments = states["ErasePass"]["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments.$"]
    assert arguments.startswith(
        "States.Array('erase', '--identity', $.identity_id, '--erasure-id', $.erasure_id"
    )
    for flag in ("--delete-cognito-identity", "'--hold-seconds', '3600'", "'--uploads-prefix', 'uploads/'"):
        assert flag in arguments
    assert states["ReadReceipt"]["Parameters"]["Key.$"] == (
        "States.Format('features-store/erasure/receipts/{}.json', $.erasure_id)"
    )
    for state in ("ErasePass", "ReadReceipt"):
        assert states[state]["Catch"][0]["Next"] == "NotifyFailure"


def test_the_erasure_role_deletes_and_rewrites_only_an_identitys_prefixes(synth) -> None:
    roles = synth.resources("AWS::IAM::Role")
    (role,) = [k for k, v in roles.items() if "erasure passes" in v["Properties"].get("Description", "")]
    statements = {s["Sid"]: s for s in policy_statements(synth.template_json, role)}
    assert set(statements) == {
        "ReadCode",
        "WriteJobLogs",
        "EraseUploads",
        "ListUploads",
        "EraseAnswers",
        "RewriteFeatureStore",
        "RewriteManifests",
        "ListManifests",
        "ListResults",
        "DropEmptiedPartitions",
        "EraseIdentityItems",
        "DeleteIdentity",
    }
    deleting = [s for s in statements.values() if "s3:DeleteObject" in as_list(s["Action"])]
    prefixes = sorted(resolve_join(r).split("}/", 1)[1] for s in deleting for r in as_list(s["Resource"]))
    assert prefixes == ["answers/*", "features-store/*", "incoming/*", "manifests/*", "uploads/*"]
    assert not any("*" in a for s in statements.values() for a in as_list(s["Action"]))
    # The one "*" resource: DeleteIdentities has no resource type.
    assert [s["Sid"] for s in statements.values() if s["Resource"] == "*"] == ["DeleteIdentity"]
    assert sorted(statements["EraseIdentityItems"]["Action"]) == ["dynamodb:DeleteItem", "dynamodb:Query"]
    assert statements["DeleteIdentity"]["Action"] == "cognito-identity:DeleteIdentities"
    assert statements["ListUploads"]["Condition"] == {
        "StringLike": {"s3:prefix": ["incoming/*", "uploads/*"]}
    }
    # No other role may delete a committed upload: only the erasure's.
    ingestion = synth.logical_id(synth.stack.storage.ingestion)
    others = [s for s in policy_statements(synth.template_json) if s not in statements.values()]
    deleters = [
        s
        for s in others
        if any("Delete" in a for a in as_list(s["Action"]))
        and f"${{{ingestion}.Arn}}/uploads/*" in {resolve_join(r) for r in as_list(s["Resource"])}
    ]
    assert deleters == []


def test_the_app_api_may_start_it_and_the_answer_lambda_may_list_tombstones(synth) -> None:
    machine, _ = _machine(synth)
    functions = synth.resources("AWS::Lambda::Function")
    api = functions[synth.logical_id(synth.stack.app_access.function)]["Properties"]["Environment"][
        "Variables"
    ]
    assert api[ENV_ERASURE_STATE_MACHINE_ARN] == {"Ref": machine}
    starts = [
        s
        for s in policy_statements(synth.template_json)
        if s.get("Action") == "states:StartExecution" and s["Resource"] == {"Ref": machine}
    ]
    assert len(starts) == 1
    answer = functions[synth.logical_id(synth.stack.answer.function)]["Properties"]["Environment"][
        "Variables"
    ]
    assert resolve_join(answer[ENV_FEATURE_STORE]).endswith("/features-store")
    (listing,) = [s for s in policy_statements(synth.template_json) if s.get("Sid") == "ListTombstones"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["features-store/erasure/tombstones/*"]}}
