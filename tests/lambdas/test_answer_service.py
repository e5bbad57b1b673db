"""The answer Lambda's service: one upload -> the batch's answer document, written once; promotions followed.

The pinned model runs for real (built once for the module); S3 is moto in-process.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from lambdas.answer.config import AnswerConfig
from lambdas.answer.events import Upload
from lambdas.answer.promoted import PromotedHeads
from lambdas.answer.runtime import build_runtime
from lambdas.answer.service import Runtime, answer_document, answer_upload, read_upload, summary
from spark_app.core.defaults import FEATURE_DIM
from spark_app.core.heads import Heads
from spark_app.models import registry
from spark_app.store import objects
from spark_app.store.answers import write_answer
from tests.helpers.images import real_images
from tests.lambdas.test_answer_events import ENVIRONMENT, object_created

REGION = "eu-west-3"
LABELS = ("Apple", "Kiwi", "Pear")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """A container's runtime over local registries (empty: nothing promoted yet)."""
    root = tmp_path_factory.mktemp("answer")
    config = AnswerConfig(
        answers_root=str(root / "answers"),
        pca_model_dir=str(root / "pca_models"),
        classifier_dir=str(root / "classifiers"),
        uploads_prefix="uploads/",
        max_object_bytes=1_000_000,
    )
    return build_runtime(config)


def save_classifier(model_dir: str, model_version: str, favourite: int, fitted_at: str) -> str:
    """A raw-feature classifier that always prefers ``LABELS[favourite]``; returns its version name."""
    name = registry.new_version_name(registry.CLASSIFIER_KIND, "raw", datetime.fromisoformat(fitted_at))
    intercepts = np.full(len(LABELS), -2.0)
    intercepts[favourite] = 2.0
    version = registry.Version(
        name, registry.CLASSIFIER_KIND, fitted_at, model_version, {"labels": list(LABELS), "features": "raw"}
    )
    registry.save_version(
        model_dir, version, {"weights": np.zeros((len(LABELS), FEATURE_DIM)), "intercepts": intercepts}
    )
    return name


# ------------------------------------------------------------------------------- the document


def test_a_photo_without_a_promoted_classifier_says_so(runtime: Runtime) -> None:
    photo = real_images(1)[0]
    answer, extracted = answer_document(
        photo.read_bytes(), runtime.extractor, runtime.heads.current(), runtime.model_version
    )
    assert answer["status"] == "no_classifier" and answer["predicted_label"] is None and answer["top3"] == []
    assert answer["model_version"] == runtime.model_version == "mobilenet_v2_1.0_224_avg@6714965a05ee"
    assert answer["batch_id"] is None and len(answer["image_id"]) == 64
    assert extracted.features.shape == (FEATURE_DIM,) and np.isfinite(extracted.features).all()


def test_a_promoted_classifier_predicts_with_the_batchs_rounding(runtime: Runtime) -> None:
    clf_dir = runtime.heads.classifier_dir
    name = save_classifier(clf_dir, runtime.model_version, 1, "2026-12-01T00:00:00+00:00")
    heads = Heads.for_model(runtime.model_version, None, registry.load_classifier(f"{clf_dir}/{name}"))
    answer, _ = answer_document(
        real_images(1)[0].read_bytes(), runtime.extractor, heads, runtime.model_version
    )
    expected = round(float(np.exp(2.0) / (np.exp(2.0) + 2 * np.exp(-2.0))), 4)
    assert (
        answer["status"] == "ok" and answer["predicted_label"] == "Kiwi" and answer["confidence"] == expected
    )
    assert answer["top3"][0]["label"] == "Kiwi" and answer["classifier_version"] == name


@pytest.mark.parametrize(
    ("name", "content", "stage", "reason"),
    [
        ("notes.txt", b"a shopping list", "format", "unsupported"),
        ("cut.jpg", None, "decode", "truncated"),
        ("empty.jpg", b"", "decode", "empty file"),
        ("big.jpg", b"x" * 1_000_001, "read", "file too large: 1,000,001 bytes"),
    ],
)
def test_a_photo_that_cannot_be_answered_gets_the_reason(
    runtime: Runtime, tmp_path: Path, name: str, content: bytes | None, stage: str, reason: str
) -> None:
    path = tmp_path / name
    photo = real_images(1)[0].read_bytes()
    path.write_bytes(photo[: len(photo) // 2] if content is None else content)
    answer, _ = answer_document(
        read_upload(str(path), runtime.max_object_bytes),
        runtime.extractor,
        runtime.heads.current(),
        runtime.model_version,
    )
    assert (answer["status"], answer["error_stage"]) == ("error", stage)
    assert reason in answer["error"]


# ------------------------------------------------------------------------------- promotions


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_promotion_is_followed_after_the_ttl_and_each_version_loaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_version, clock = "mobilenet_v2_1.0_224_avg@6714965a05ee", Clock()
    clf_dir = str(tmp_path / "classifiers")
    heads = PromotedHeads(
        str(tmp_path / "pca"),
        clf_dir,
        model_version=model_version,
        threshold=0.5,
        ttl_seconds=60,
        clock=clock,
    )
    loads: list[str] = []
    real_load = registry.load_classifier
    monkeypatch.setattr(registry, "load_classifier", lambda uri: loads.append(uri) or real_load(uri))

    assert heads.current().classifier is None  # nothing promoted: "no classifier yet"
    first = save_classifier(clf_dir, model_version, 0, "2026-12-01T00:00:00+00:00")
    registry.promote(clf_dir, first)
    clock.now = 59.0
    assert heads.current().classifier is None  # within the TTL: LATEST is not read again
    clock.now = 60.0
    assert heads.current().classifier.version == first
    second = save_classifier(clf_dir, model_version, 2, "2026-12-02T00:00:00+00:00")
    registry.promote(clf_dir, second)
    for clock.now in (130.0, 200.0, 260.0):
        assert heads.current().classifier.version == second
    assert [Path(uri).name for uri in loads] == [first, second]  # one load per version
    assert heads.refreshes == 5
    heads.expire()
    heads.current()
    assert heads.refreshes == 6


# ------------------------------------------------------------------------------- S3 and the handler


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    """Buckets in moto (in-process) and objects' S3 client pointed at it."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(objects.ENDPOINT_ENV, raising=False)
    with mock_aws():
        objects._clients.clear()
        client = boto3.client("s3", region_name=REGION)
        for bucket in ("fruits-ingestion-example", "results", "artifacts"):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client
    objects._clients.clear()


def test_the_first_answer_wins_and_the_batchs_later_answer_is_refused(runtime: Runtime, s3) -> None:
    key = "uploads/id-1/photo.jpg"
    s3.put_object(Bucket="fruits-ingestion-example", Key=key, Body=real_images(1)[0].read_bytes())
    on_s3 = Runtime(**{**vars(runtime), "answers_root": "s3://results/answers"})

    first = answer_upload(Upload("fruits-ingestion-example", key), on_s3)
    again = answer_upload(Upload("fruits-ingestion-example", key), on_s3)  # a redelivered event

    assert first.written and not again.written and first.key == key
    assert not write_answer("s3://results/answers", key, {"status": "ok", "batch_id": "b-1"})
    stored = json.loads(s3.get_object(Bucket="results", Key=f"answers/{key}.json")["Body"].read())
    assert stored == first.answer and stored["batch_id"] is None
    assert set(summary(first)) >= {"status", "written", "read_ms", "answer_ms", "write_ms"}
    assert key not in json.dumps(summary(first))


def test_a_missing_upload_fails_the_invocation_so_that_it_is_retried(runtime: Runtime, s3) -> None:
    on_s3 = Runtime(**{**vars(runtime), "answers_root": "s3://results/answers"})
    with pytest.raises(objects.StorageError):
        answer_upload(Upload("fruits-ingestion-example", "uploads/gone.jpg"), on_s3)
    assert s3.list_objects_v2(Bucket="results").get("KeyCount") == 0


def test_the_handler_answers_the_eventbridge_event(s3, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        **ENVIRONMENT,
        "ANSWERS_ROOT": "s3://results/answers",
        "PCA_MODEL_DIR": "s3://artifacts/pca-models",
        "CLASSIFIER_DIR": "s3://artifacts/classifiers",
    }.items():
        monkeypatch.setenv(name, value)
    event = object_created()
    key = "uploads/eu-west-3:0b5c6d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e/7d1f0c2e-photo.jpg"
    s3.put_object(Bucket="fruits-ingestion-example", Key=key, Body=real_images(1)[0].read_bytes())
    module = importlib.import_module("lambdas.answer.handler")
    monkeypatch.setattr(module, "RUNTIME", build_runtime(module.load_config()))  # a fresh container

    result = module.handler(event, _Context())

    assert result["status"] == "no_classifier" and result["written"] is True
    assert s3.head_object(Bucket="results", Key=f"answers/{key}.json")["ContentLength"] > 0
    skipped = module.handler(object_created("curated/x.jpg"), _Context())
    assert skipped == {"skipped": "outside_uploads_prefix", "detail": "key is not under 'uploads/'"}


class _Context:
    function_name = "fruits-answer"
    memory_limit_in_mb = 2048
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:fruits-answer"
    aws_request_id = "00000000-0000-0000-0000-000000000001"
