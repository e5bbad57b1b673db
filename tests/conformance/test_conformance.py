"""AWS conformance: every request the pipeline makes is allowed by the synthesized policies.

The local end-to-end flow runs with every AWS call recorded (driver, Spark Python workers, ingest
Lambda); each call becomes the IAM request(s) AWS would authorize, and so do the documented platform
requests (EMRFS, EMR Serverless runtime, Step Functions .sync, service-to-service deliveries). All are
evaluated offline by an IAM policy simulator against the identity policies and the bucket, topic,
queue, repository and trust policies of the synthesized templates. Negative cases must be refused.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conformance.platform import placeholders, platform_requests
from tests.conformance.policies import REFIT_STATE_MACHINE, STATE_MACHINE, Decision, PolicySet
from tests.conformance.recorder import ANSWER, INGEST, JOB, read_calls, recording
from tests.conformance.requests import IamRequest, UnknownOperation, requests_from_call
from tests.e2e.local_flow import FlowResult, bad_uploads, run_flow, sample_uploads

PHOTOS, CLASSES = 4, 2


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
        self.recorded = [request for call in calls for request in requests_from_call(call, spec.account)]
        allowed, denied = platform_requests(placeholders(spec, template, images))
        decisions = self.policies.evaluate(self.recorded + allowed + denied)
        n_rec, n_allow = len(self.recorded), len(allowed)
        self.recorded_decisions = decisions[:n_rec]
        self.platform_decisions = decisions[n_rec : n_rec + n_allow]
        self.negative_decisions = decisions[n_rec + n_allow :]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Evaluated:
    out_dir = tmp_path_factory.mktemp("conformance")
    with recording(out_dir / "aws-calls.jsonl") as log:
        flow = run_flow(
            sample_uploads(PHOTOS, classes=CLASSES) + bad_uploads(),
            out_dir=out_dir,
            duplicate_delivery=False,
            spark_logs_to_files=True,
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
    answers = Counter(
        c["principal"]
        for c in evaluated.calls
        if c["operation"] == "PutObject" and c["params"].get("Key", "").startswith(spec.config.answers_prefix)
    )
    assert answers == {ANSWER: PHOTOS + 2, JOB: PHOTOS + 2}
    assert {
        k for p, k in ((c["principal"], c["params"].get("Key", "")) for c in evaluated.calls) if p == ANSWER
    } >= {
        f"{spec.config.pca_models_prefix}LATEST",
        f"{spec.config.classifiers_prefix}LATEST",
    }
    keys = {(c["principal"], c["params"].get("Key", "")) for c in evaluated.calls}
    assert any(p == JOB and k.startswith(spec.config.features_prefix) for p, k in keys)
    assert any(p == INGEST and k.startswith(spec.config.manifests_prefix) for p, k in keys)
    # Worker processes recorded too: the uploads are read by Spark's Python workers and the answer Lambda.
    uploads = [
        c for c in evaluated.calls if c["params"].get("Key", "").startswith(spec.config.uploads_prefix)
    ]
    assert {c["principal"] for c in uploads} == {JOB, ANSWER}
    assert {c["operation"] for c in evaluated.calls if c["principal"] == ANSWER} == {"GetObject", "PutObject"}


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


def _one_role_template(statement: dict) -> dict:
    return {
        "Resources": {
            "JobRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "emr-serverless.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
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
    principals = {JOB, INGEST, ANSWER, STATE_MACHINE, REFIT_STATE_MACHINE, "publisher", "nobody"}
    for entry in document["requests"]:
        assert entry["expect"] in ("allow", "deny"), entry["id"]
        assert entry["principal"] in principals or entry["principal"].startswith("service:"), entry["id"]
        if entry["expect"] == "allow":
            assert entry["source"] in document["sources"] and entry["confidence"] in (
                "documented",
                "inferred",
            )
    assert len({e["id"] for e in document["requests"]}) == len(document["requests"])
