"""How the job's AWS requests are made, where the IAM simulation cannot look: the region every client
gets, what a missing object reads as whatever S3 answers (403 or 404), and S3's 409 on a conditional write."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from spark_app.job.extract import read_input
from spark_app.store import catalog, objects
from tests.helpers.s3_faults import inject_error

REGION = "eu-west-3"


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """No region anywhere botocore looks: no variable, no config file."""
    for name in (objects.REGION_ENV, objects.DEFAULT_REGION_ENV, "AWS_PROFILE", objects.ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    objects._clients.clear()
    yield
    objects._clients.clear()


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An in-process S3 with a bucket ``photos``; the job's client (``objects.s3_client()``) uses it."""
    monkeypatch.setenv(objects.DEFAULT_REGION_ENV, REGION)
    monkeypatch.delenv(objects.ENDPOINT_ENV, raising=False)
    objects._clients.clear()
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="photos", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield objects.s3_client()
    objects._clients.clear()


def test_every_client_gets_the_region_it_is_given(no_region) -> None:
    with pytest.raises(catalog.CatalogError, match="no AWS region for the Glue catalog: pass --region"):
        catalog.glue_client()
    assert objects.worker_environment() == {}
    objects.use_region("eu-west-1")  # what --region does
    assert objects.s3_client().meta.region_name == "eu-west-1"
    assert catalog.glue_client().meta.region_name == "eu-west-1"
    assert objects.worker_environment() == {"AWS_REGION": "eu-west-1"}  # the Python workers get it too


def test_workers_get_the_emulator_and_its_credentials_only_with_an_endpoint(no_region, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")  # boto3's own variable is the fallback
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    assert objects.worker_environment() == {"AWS_REGION": "eu-west-3"}  # on AWS: the job role, no keys
    monkeypatch.setenv(objects.ENDPOINT_ENV, "http://127.0.0.1:5000")
    assert objects.worker_environment() == {
        "AWS_REGION": "eu-west-3",
        objects.ENDPOINT_ENV: "http://127.0.0.1:5000",
        "AWS_ACCESS_KEY_ID": "test",
    }


@pytest.mark.parametrize("answer", ["404 NoSuchKey", "403 AccessDenied"])
def test_a_missing_or_expired_upload_reads_as_such_whatever_s3_answers(bucket, answer: str) -> None:
    status, code = answer.split()
    if status == "403":  # what AWS answers a reader without s3:ListBucket on the prefix
        inject_error(bucket, "GetObject", code, int(status))
    rejected = read_input("s3://photos/uploads/u1/expired.jpg", max_bytes=1000)
    assert rejected.stage == "read"
    assert rejected.reason.startswith("object not found")
    assert "s3://photos/uploads/u1/expired.jpg" in rejected.reason and "expired" in rejected.reason


def test_a_write_refused_with_403_says_access_denied(bucket) -> None:
    inject_error(bucket, "PutObject", "AccessDenied", 403)
    with pytest.raises(objects.StorageError, match=r"^access denied to s3://photos/answers/a.json$"):
        objects.write_text("s3://photos/answers/a.json", "{}")


def test_a_conditional_write_tells_a_lost_race_from_a_conflict(bucket) -> None:
    uri = "s3://photos/registry/LATEST"
    inject_error(bucket, "PutObject", "ConditionalRequestConflict", 409, times=1)
    with pytest.raises(objects.ConditionConflict, match="409 ConditionalRequestConflict"):
        objects.write_text_if(uri, "v1\n", expected_etag=None)
    assert objects.read_text_versioned(uri) is None  # nothing was written
    objects.write_text_if(uri, "v1\n", expected_etag=None)  # the retry
    with pytest.raises(objects.ConditionFailed) as lost:  # 412: another writer won
        objects.write_text_if(uri, "v2\n", expected_etag=None)
    assert not isinstance(lost.value, objects.ConditionConflict)
