"""Promotion against S3's 409 ConditionalRequestConflict: read LATEST again and retry, as S3 documents.

moto never answers 409; it is injected into the job's own client (tests/helpers/s3_faults.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import numpy as np
import pytest
from moto import mock_aws

from spark_app.models import registry
from spark_app.models.registry import PromotionConflict, PromotionError, Version, promote, promoted_version
from spark_app.store import objects
from tests.helpers.s3_faults import inject_error

REGION = "eu-west-3"
MODEL_DIR = "s3://artifacts/pca-models"
V1, V2, V3 = "pca-k3-a", "pca-k3-b", "pca-k3-c"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The job's S3 client on an in-process S3 holding three complete versions, V1 promoted."""
    monkeypatch.setenv(objects.DEFAULT_REGION_ENV, REGION)
    monkeypatch.delenv(objects.ENDPOINT_ENV, raising=False)
    monkeypatch.setattr(registry, "CONFLICT_PAUSE_SECONDS", 0.0)
    objects._clients.clear()
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        for day, name in enumerate((V1, V2, V3), start=20):
            version = Version(name, registry.PCA_KIND, f"2026-11-{day}T10:00:00+00:00", "cnn@1", {"k": 3})
            registry.save_version(MODEL_DIR, version, {"components": np.ones((4, 3), dtype=np.float32)})
        promote(MODEL_DIR, V1)
        yield objects.s3_client()
    objects._clients.clear()


def _latest(path: str) -> bool:
    return path.endswith("/LATEST")


def _reads_of_latest(client: object) -> list[str]:
    """Records every GetObject of LATEST (answers nothing)."""
    reads: list[str] = []
    client.meta.events.register(
        "before-call.s3.GetObject",
        lambda params, **_: reads.append(params["url_path"]) if _latest(params["url_path"]) else None,
    )
    return reads


def test_a_409_is_read_again_and_retried(client) -> None:
    conflicts = inject_error(client, "PutObject", "ConditionalRequestConflict", 409, when=_latest, times=2)
    reads = _reads_of_latest(client)
    done = promote(MODEL_DIR, V2)
    assert (done.previous, done.current, done.changed) == (V1, V2, True)
    assert len(conflicts) == 2 and len(reads) == 3  # each attempt reads LATEST (its ETag) first
    assert promoted_version(MODEL_DIR) == V2


def test_the_retry_sees_what_changed_meanwhile(client) -> None:
    """During the 409, another promotion moved LATEST to a newer version: the retry refuses to go back."""
    other = boto3.client("s3", region_name=REGION)

    def conflict_while_v3_is_promoted(path: str) -> bool:
        if _latest(path):
            other.put_object(Bucket="artifacts", Key="pca-models/LATEST", Body=f"{V3}\n".encode())
        return _latest(path)

    inject_error(
        client, "PutObject", "ConditionalRequestConflict", 409, when=conflict_while_v3_is_promoted, times=1
    )
    with pytest.raises(PromotionError, match=f"{V3} \\(promoted\\) was fitted after {V2}"):
        promote(MODEL_DIR, V2)
    assert promoted_version(MODEL_DIR) == V3


def test_a_409_that_persists_fails_cleanly(client) -> None:
    conflicts = inject_error(client, "PutObject", "ConditionalRequestConflict", 409, when=_latest)
    with pytest.raises(PromotionConflict, match=r"stayed in conflict \(409\) for 5 attempts"):
        promote(MODEL_DIR, V2)
    assert len(conflicts) == registry.CONFLICT_ATTEMPTS and promoted_version(MODEL_DIR) == V1
