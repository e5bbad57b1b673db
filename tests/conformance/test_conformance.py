"""AWS conformance: every request the pipeline makes is allowed by the synthesized policies.

The local end-to-end flow runs with every AWS call recorded (driver, Spark Python workers, ingest
Lambda); each call becomes the IAM request(s) AWS would authorize, and so do the documented platform
requests (EMRFS, EMR Serverless runtime, Step Functions .sync, service-to-service deliveries). All are
evaluated offline by an IAM policy simulator against the identity policies and the bucket, topic,
queue, repository and trust policies of the synthesized templates. Negative cases must be refused.

The app's side (two identities through the app API, tests/conformance/app.py): the app client's and the
API Lambda's recorded calls, each API call as ``execute-api:Invoke``, each form POST as ``s3:PutObject``
by its signer and against its POST policy (tests/conformance/post_policy.py), and app_requests.json.
The app roles' policies use the policy variable ``${cognito-identity.amazonaws.com:sub}``; the simulator
drops that context key, so the variable is replaced by each identity's id before evaluation
(PolicySet.add_app_identity).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conformance import app as app_requests
from tests.conformance.platform import placeholders, platform_requests
from tests.conformance.policies import (
    APP_GUEST,
    ERASURE,
    ERASURE_STATE_MACHINE,
    REFIT_STATE_MACHINE,
    STATE_MACHINE,
    Decision,
    PolicySet,
)
from tests.conformance.post_policy import check_form
from tests.conformance.recorder import ANSWER, APP, APP_API, INGEST, JOB, read_calls, recording
from tests.conformance.requests import IamRequest, UnknownOperation, requests_from_call
from tests.e2e.app_flow import app_photos
from tests.e2e.local_flow import FlowResult, bad_uploads, run_flow, sample_uploads

PHOTOS, CLASSES = 4, 2
APP_PHOTOS = 2  # one per identity


class Evaluated:
    """The recorded flow and every decision, shared by the module's tests."""

    def __init__(self, flow: FlowResult, calls: list[dict]):
        self.flow, self.calls = flow, calls
        spec = flow.spec
        template = json.loads(spec.template_path.read_text())
        images = json.loads(
            (spec.template_path.parent / f"{spec.names.image_stack}.template.json").read_text()
        )
        self.policies = PolicySet([template, images], account=spec.account, region=spec.region)
        self.policies.add_role("publisher", spec.config.image_publishing_role_arn(spec.account))
        self.policies.add_role("nobody", f"arn:aws:iam::{spec.account}:role/unrelated-role")
        for key, identity_id in app_requests.identities(flow.app).items():
            self.policies.add_app_identity(key, identity_id)
        self.recorded = [request for call in calls for request in requests_from_call(call, spec.account)]
        allowed, denied = platform_requests(placeholders(spec, template, images))
        app_allowed, app_denied = app_requests.data_requests(app_requests.placeholders(flow, template))
        self.app_recorded = app_requests.served_requests(flow) + app_requests.form_requests(flow)
        groups = [self.recorded, allowed, denied, self.app_recorded + app_allowed, app_denied]
        decisions = iter(self.policies.evaluate([r for group in groups for r in group]))
        self.recorded_decisions, self.platform_decisions, self.negative_decisions = (
            [next(decisions) for _ in group] for group in groups[:3]
        )
        self.app_decisions = [next(decisions) for _ in groups[3]]
        self.app_negative_decisions = [next(decisions) for _ in groups[4]]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Evaluated:
    out_dir = tmp_path_factory.mktemp("conformance")
    with recording(out_dir / "aws-calls.jsonl") as log:
        flow = run_flow(
            sample_uploads(PHOTOS, classes=CLASSES) + bad_uploads(),
            out_dir=out_dir,
            duplicate_delivery=False,
            spark_logs_to_files=True,
            app_uploads=app_photos(APP_PHOTOS),
            app_abuse=True,
            app_corrections=True,
            erase_app_identity=True,
        )
    return Evaluated(flow, read_calls(log))


def _report(decisions: list[Decision]) -> str:
    return "\n".join(d.explain() for d in decisions)


@pytest.mark.spark
@pytest.mark.slow
def test_the_recording_covers_the_job_and_the_lambda(evaluated: Evaluated) -> None:
    flow, spec = evaluated.flow, evaluated.flow.spec
    assert all(run.exit_code == 0 for run in flow.executions)
    seen = Counter((c["principal"], c["operation"]) for c in evaluated.calls)
    # The job: the output check, the manifest, every upload, the weights, and the written outputs.
    assert seen[(JOB, "HeadBucket")] >= 1
    assert seen[(JOB, "GetObject")] >= PHOTOS + 2 + 2  # photos, bad files, manifest, model
    assert seen[(JOB, "PutObject")] >= 2  # features and errors Parquet (+ the PCA model, the summary)
    # The Lambda: one manifest and one execution for the batch.
    assert seen[(INGEST, "PutObject")] == 1 and seen[(INGEST, "StartExecution")] == 1
    # The batch registers its partitions in the catalog. Each upload's answer is written by the answer
    # Lambda as it lands; the batch's conditional writes come later and are refused (first writer wins).
    assert seen[(JOB, "BatchCreatePartition")] == 2
    # App photos (under uploads/) are answered by the answer Lambda as they land; the batch tries every
    # input's answer with a conditional write, refused for those (first writer wins).
    answers = Counter(
        c["principal"]
        for c in evaluated.calls
        if c["operation"] == "PutObject" and c["params"].get("Key", "").startswith(spec.config.answers_prefix)
    )
    # (+1: identity B's photo sent again after its erasure, answered as usual.)
    assert answers == {ANSWER: APP_PHOTOS + 1, JOB: PHOTOS + 2 + APP_PHOTOS}
    assert {
        k for p, k in ((c["principal"], c["params"].get("Key", "")) for c in evaluated.calls) if p == ANSWER
    } >= {
        f"{spec.config.pca_models_prefix}LATEST",
        f"{spec.config.classifiers_prefix}LATEST",
    }
    keys = {(c["principal"], c["params"].get("Key", "")) for c in evaluated.calls}
    assert any(p == JOB and k.startswith(spec.config.features_prefix) for p, k in keys)
    assert any(p == INGEST and k.startswith(spec.config.manifests_prefix) for p, k in keys)
    # Worker processes recorded too: uploads and curated data are read by Spark's Python workers (and the
    # app's uploads by the answer Lambda); only the app API writes (copies) uploads.
    inputs = (spec.config.uploads_prefix, spec.config.curated_prefix)
    uploads = [c for c in evaluated.calls if c["params"].get("Key", "").startswith(inputs)]
    assert {c["principal"] for c in uploads if c["operation"] == "GetObject"} == {JOB, ANSWER}
    assert {c["principal"] for c in uploads if c["operation"] != "GetObject"} == {APP_API}
    # ListObjectsV2: the erasure tombstone of the upload's identity, by its exact key.
    answer_operations = {c["operation"] for c in evaluated.calls if c["principal"] == ANSWER}
    assert answer_operations == {"GetObject", "PutObject", "ListObjectsV2"}


@pytest.mark.spark
@pytest.mark.slow
def test_the_recording_covers_the_erasure(evaluated: Evaluated) -> None:
    """Identity B's erasure (DELETE /me -> the API starts the state machine -> one pass with its own role):
    every call it made is among the recorded requests the next test evaluates."""
    flow = evaluated.flow
    assert flow.erasure is not None and flow.erasure.receipt["status"] == "done"
    seen = Counter((c["principal"], c["operation"]) for c in evaluated.calls)
    assert seen[(APP_API, "StartExecution")] == 1
    for operation in ("ListObjectVersions", "DeleteObjects", "PutObject", "Query", "DeleteItem"):
        assert seen[(ERASURE, operation)] >= 1, operation
    assert not any(
        c["principal"] == JOB and c["operation"] == "DeleteObjects"
        for c in evaluated.calls
        if c["params"].get("Bucket") == flow.spec.names.ingestion_bucket
    )
    versions = [
        r for r in evaluated.recorded if r.principal == ERASURE and r.action == "s3:DeleteObjectVersion"
    ]
    assert any(flow.erasure.identity_id in r.resource for r in versions)  # its prefixes, every version


@pytest.mark.spark
@pytest.mark.slow
def test_every_recorded_request_is_allowed(evaluated: Evaluated) -> None:
    refused = [d for d in evaluated.recorded_decisions if not d.allowed]
    assert not refused, f"{len(refused)} recorded requests would be refused on AWS:\n{_report(refused)}"


@pytest.mark.spark
@pytest.mark.slow
def test_every_documented_platform_request_is_allowed(evaluated: Evaluated) -> None:
    refused = [d for d in evaluated.platform_decisions if not d.allowed]
    assert not refused, f"{len(refused)} platform requests would be refused on AWS:\n{_report(refused)}"
    assert len(evaluated.platform_decisions) >= 55


@pytest.mark.spark
@pytest.mark.slow
def test_every_negative_case_is_refused(evaluated: Evaluated) -> None:
    allowed = [
        d for d in evaluated.negative_decisions if d.decision not in ("ImplicitlyDenied", "ExplicitlyDenied")
    ]
    assert not allowed, f"{len(allowed)} requests that must be refused are not:\n{_report(allowed)}"
    explicit = {
        d.request.source.split(" ")[0]
        for d in evaluated.negative_decisions
        if d.decision == "ExplicitlyDenied"
    }
    # Transport security is refused by the resource policies' explicit denies, not by a missing allow.
    assert {"plain-http-refused", "old-tls-refused", "plain-http-publish-refused"} <= explicit


# ------------------------------------------------------------------------------- the evaluator itself


def _one_role_template(statement: dict, trust: dict | None = None) -> dict:
    trust = trust or {
        "Effect": "Allow",
        "Principal": {"Service": "emr-serverless.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    return {
        "Resources": {
            "JobRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]}},
            },
            "JobPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                    "Roles": [{"Ref": "JobRole"}],
                },
            },
        }
    }


def test_the_evaluator_refuses_head_bucket_under_a_prefix_scoped_list_bucket() -> None:
    """The defect this suite was built for: decisions come from evaluating the policies' conditions."""
    scoped = {
        "Sid": "ListFeatureStore",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::results",
        "Condition": {"StringLike": {"s3:prefix": ["features-store/*"]}},
    }
    policies = PolicySet([_one_role_template(scoped)], account="123456789012", region="eu-west-3")
    head_bucket = requests_from_call(
        {"principal": JOB, "service": "s3", "operation": "HeadBucket", "params": {"Bucket": "results"}}
    )
    listing = requests_from_call(
        {
            "principal": JOB,
            "service": "s3",
            "operation": "ListObjectsV2",
            "params": {"Bucket": "results", "Prefix": "features-store/features/"},
        }
    )
    outside = IamRequest(JOB, "s3:ListBucket", "arn:aws:s3:::results", {"s3:prefix": "other/"})
    decisions = policies.evaluate([*head_bucket, *listing, outside])
    assert [d.decision for d in decisions] == ["ImplicitlyDenied", "Allowed", "ImplicitlyDenied"]
    assert decisions[1].allow == ["identity:job-0:ListFeatureStore"]


def test_calls_map_to_the_iam_actions_aws_authorizes() -> None:
    def actions(operation: str, **params: object) -> list[tuple[str, str]]:
        call = {
            "principal": JOB,
            "service": "s3",
            "operation": operation,
            "params": {"Bucket": "b", **params},
        }
        return [(r.action, r.resource) for r in requests_from_call(call)]

    assert actions("HeadObject", Key="k") == [("s3:GetObject", "arn:aws:s3:::b/k")]
    assert actions("UploadPart", Key="k") == [("s3:PutObject", "arn:aws:s3:::b/k")]
    assert actions("DeleteObjects", DeleteKeys=["a", "c"]) == [
        ("s3:DeleteObject", "arn:aws:s3:::b/a"),
        ("s3:DeleteObject", "arn:aws:s3:::b/c"),
    ]
    assert actions("CopyObject", Key="to", CopySource="src/from") == [
        ("s3:PutObject", "arn:aws:s3:::b/to"),
        ("s3:GetObject", "arn:aws:s3:::src/from"),
    ]
    (listing,) = requests_from_call(
        {
            "principal": JOB,
            "service": "s3",
            "operation": "ListObjectsV2",
            "params": {"Bucket": "b", "Prefix": "p/", "Delimiter": "/"},
        }
    )
    assert listing.context == {"s3:prefix": "p/", "s3:delimiter": "/"}
    (start,) = requests_from_call(
        {
            "principal": INGEST,
            "service": "states",
            "operation": "StartExecution",
            "params": {"stateMachineArn": "arn:sm"},
        }
    )
    assert (start.action, start.resource) == ("states:StartExecution", "arn:sm")
    glue = requests_from_call(
        {
            "principal": JOB,
            "service": "glue",
            "operation": "BatchCreatePartition",
            "region": "eu-west-3",
            "params": {"DatabaseName": "db", "TableName": "features"},
        },
        "111122223333",
    )
    assert [r.resource for r in glue] == [
        "arn:aws:glue:eu-west-3:111122223333:catalog",
        "arn:aws:glue:eu-west-3:111122223333:database/db",
        "arn:aws:glue:eu-west-3:111122223333:table/db/features",
    ]
    with pytest.raises(UnknownOperation, match="s3:PutBucketPolicy"):
        requests_from_call(
            {"principal": JOB, "service": "s3", "operation": "PutBucketPolicy", "params": {"Bucket": "b"}}
        )


def test_platform_requests_name_a_known_principal_and_source() -> None:
    document = json.loads((Path(__file__).parent / "platform_requests.json").read_text())
    principals = {JOB, INGEST, ANSWER, STATE_MACHINE, REFIT_STATE_MACHINE, ERASURE, ERASURE_STATE_MACHINE}
    principals |= {"publisher", "nobody"}
    for entry in document["requests"]:
        assert entry["expect"] in ("allow", "deny"), entry["id"]
        assert entry["principal"] in principals or entry["principal"].startswith("service:"), entry["id"]
        if entry["expect"] == "allow":
            assert entry["source"] in document["sources"] and entry["confidence"] in (
                "documented",
                "inferred",
            )
    assert len({e["id"] for e in document["requests"]}) == len(document["requests"])


# ------------------------------------------------------------------------------- the app's door


@pytest.mark.spark
@pytest.mark.slow
def test_the_recording_covers_the_app_and_its_api(evaluated: Evaluated) -> None:
    calls, app = evaluated.calls, evaluated.flow.app
    api = Counter(c["operation"] for c in calls if c["principal"] == APP_API)
    # Grants (quota), listing and ranged reads of staged photos, commit records, copies, deletes.
    assert {"UpdateItem", "ListObjectsV2", "GetObject", "PutItem", "CopyObject", "DeleteObject"} <= set(api)
    for identity in app.identities:
        own = Counter(c["operation"] for c in calls if c["principal"] == f"{APP}{identity.identity_id}")
        assert own["GetCredentialsForIdentity"] >= 1 and own["ListObjectsV2"] >= 1 and own["GetObject"] >= 1
    served = app_requests.served_requests(evaluated.flow)
    assert {r.principal for r in served} == {f"{APP}{i.identity_id}" for i in app.identities}
    assert len(app_requests.recorded_forms(evaluated.flow)) >= APP_PHOTOS


@pytest.mark.spark
@pytest.mark.slow
def test_a_corrects_its_own_photo_b_cannot_and_only_the_api_writes_corrections(evaluated: Evaluated) -> None:
    """The correction route: each request invoked by its sender's identity (execute-api, evaluated with the
    policy variable substituted), B's request on A's photo refused by the handler (it looks under B's own
    id), and the one correction written by the API role under A's id; no other principal writes there."""
    flow, calls = evaluated.flow, evaluated.calls
    a, b = flow.app.identities[:2]
    photo = a.grants[0].photo_id
    # No classifier is promoted in this flow: A's true class goes in as a new-class proposal.
    assert [(c.case, c.sender, c.owner, c.status, c.code) for c in flow.app.corrections] == [
        ("A corrects its own photo", "A", "A", 201, "new_class"),
        ("B corrects A's photo", "B", "A", 404, "not_found"),
        ("an unknown label", "A", "A", 422, "invalid_label"),
    ]
    served = [r for r in app_requests.served_requests(flow) if r.resource.endswith(f"/{photo}/correction")]
    assert [r.principal for r in served] == [
        f"{APP}{a.identity_id}",
        f"{APP}{b.identity_id}",
        f"{APP}{a.identity_id}",
    ]
    corrections = f"{flow.spec.config.features_prefix}corrections/"
    written = [
        (c["principal"], c["params"]["Key"])
        for c in calls
        if c["operation"] == "PutObject" and c["params"].get("Key", "").startswith(corrections)
    ]
    assert written == [(APP_API, f"{corrections}{a.identity_id}/{photo}.json")]
    api_reads = {
        c["params"]["Key"] for c in calls if c["principal"] == APP_API and c["operation"] == "GetObject"
    }
    assert (
        f"{flow.spec.config.answers_prefix}{flow.spec.config.uploads_prefix}{a.identity_id}/{photo}.jpg.json"
        in api_reads
    )
    assert f"{flow.spec.config.classifiers_prefix}LATEST" in api_reads
    ids = {d.request.source.split(" ")[0] for d in evaluated.app_decisions + evaluated.app_negative_decisions}
    assert {
        "a-calls-correction-route",
        "api-role-writes-the-correction",
        "a-cannot-write-own-correction-directly",
        "b-cannot-write-a-correction-of-a",
        "api-role-cannot-write-features",
    } <= ids


@pytest.mark.spark
@pytest.mark.slow
def test_every_app_request_is_allowed(evaluated: Evaluated) -> None:
    refused = [d for d in evaluated.app_decisions if not d.allowed]
    assert not refused, f"{len(refused)} app requests would be refused on AWS:\n{_report(refused)}"
    assert len(evaluated.app_decisions) >= len(evaluated.app_recorded) + 8


@pytest.mark.spark
@pytest.mark.slow
def test_every_app_negative_case_is_refused(evaluated: Evaluated) -> None:
    decisions = evaluated.app_negative_decisions
    allowed = [d for d in decisions if d.decision not in ("ImplicitlyDenied", "ExplicitlyDenied")]
    assert not allowed, f"{len(allowed)} app requests that must be refused are not:\n{_report(allowed)}"
    explicit = {d.request.source.split(" ")[0] for d in decisions if d.decision == "ExplicitlyDenied"}
    assert {"a-own-answer-without-tls-refused", "a-own-listing-without-tls-refused"} <= explicit
    assert len(decisions) >= 35


@pytest.mark.spark
@pytest.mark.slow
def test_every_recorded_upload_form_satisfies_its_policy(evaluated: Evaluated) -> None:
    forms = app_requests.recorded_forms(evaluated.flow)
    problems = {f.fields["key"]: check_form(f, secret=app_requests.SIGNING_SECRET) for f in forms}
    assert all(not p for p in problems.values()), problems


@pytest.mark.spark
@pytest.mark.slow
def test_upload_forms_refuse_oversize_wrong_type_expired_and_foreign_keys(evaluated: Evaluated) -> None:
    flow = evaluated.flow
    a, b = flow.app.identities[:2]
    (form,) = [
        f
        for f in app_requests.recorded_forms(flow)
        if f.fields["key"].endswith(f"/{a.grants[0].photo_id}.jpg")
    ]
    cases = app_requests.refused_forms(
        form,
        other_identity=b.identity_id,
        max_bytes=flow.spec.config.max_object_bytes,
        uploads_prefix=flow.spec.config.uploads_prefix,
        curated_prefix=flow.spec.config.curated_prefix,
    )
    reasons = {case: check_form(bad, secret=app_requests.SIGNING_SECRET) for case, bad in cases.items()}
    assert all(reasons.values()), {case: r for case, r in reasons.items() if not r}
    assert "outside content-length-range" in reasons["oversize"][0]
    assert "outside content-length-range" in reasons["empty file"][0]
    assert "content-type is 'image/gif'" in reasons["wrong type"][0]
    assert "policy expired" in reasons["expired grant"][0]
    for case in ("key of another identity", "key under the upload prefix", "key under the curated prefix"):
        assert [r for r in reasons[case] if r.startswith("key is ")], reasons[case]
    assert "signature does not match" in reasons["policy widened by the client"][0]
    assert "'acl' is not named" in reasons["extra field (acl)"][0]
    assert "bucket is 'someone-elses-bucket'" in reasons["another bucket"][0]


def test_the_identity_variable_is_substituted_before_evaluation() -> None:
    """Without the substitution the simulator refuses an identity its own answer (it drops the key)."""
    own = "answers/uploads/${cognito-identity.amazonaws.com:sub}/*"
    guest_trust = {
        "Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"}},
    }
    statement = {
        "Sid": "Own",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::r/{own}",
    }
    template = _one_role_template(statement, guest_trust)
    policies = PolicySet([template], account="123456789012", region="eu-west-3")
    policies.add_app_identity("app:a", "eu-west-3:aaaa")
    answer = "arn:aws:s3:::r/answers/uploads/eu-west-3:aaaa/p.jpg.json"
    requests = [
        IamRequest(
            APP_GUEST, "s3:GetObject", answer, {"cognito-identity.amazonaws.com:sub": "eu-west-3:aaaa"}
        ),
        IamRequest("app:a", "s3:GetObject", answer),
        IamRequest("app:a", "s3:GetObject", answer.replace("aaaa", "bbbb")),
    ]
    assert [d.decision for d in policies.evaluate(requests)] == [
        "ImplicitlyDenied",
        "Allowed",
        "ImplicitlyDenied",
    ]
