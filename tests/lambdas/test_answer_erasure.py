"""The answer Lambda and erasure: no answer for an identity being erased, even one whose erasure begins
while its answer is written; another identity, and the same identity after its erasure, are answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import lambdas.answer.service as service
from lambdas.answer.events import Skip, SkipReason
from lambdas.answer.service import Answered, Runtime, answer_event
from spark_app.core.erasure import Tombstone, identity_digest
from spark_app.store.tombstones import remove_tombstone, write_tombstone
from tests.helpers.images import real_images
from tests.lambdas.test_answer_events import object_created
from tests.lambdas.test_answer_service import runtime, s3  # noqa: F401  (fixtures)

ALICE = "eu-west-3:0b5c6d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e"
BOB = "eu-west-3:00000002-0000-4000-8000-000000000000"
STORE = "s3://results/features-store"
ERASURE_ID = "a" * 32


def _erasing(identity: str) -> None:
    write_tombstone(STORE, Tombstone.new(identity, ERASURE_ID, datetime.now(UTC), 3600))


def _answers(client) -> list[str]:
    return sorted(
        o["Key"] for o in client.list_objects_v2(Bucket="results", Prefix="answers/").get("Contents", [])
    )


@pytest.fixture
def on_s3(runtime: Runtime, s3) -> Runtime:  # noqa: F811
    for identity in (ALICE, BOB):
        key = f"uploads/{identity}/p.jpg"
        s3.put_object(Bucket="fruits-ingestion-example", Key=key, Body=real_images(1)[0].read_bytes())
    return Runtime(**{**vars(runtime), "answers_root": "s3://results/answers", "feature_store": STORE})


def test_an_identity_being_erased_gets_no_answer_and_another_does(on_s3: Runtime, s3) -> None:  # noqa: F811
    _erasing(ALICE)
    skipped = answer_event(object_created(f"uploads/{ALICE}/p.jpg"), on_s3)
    assert skipped == Skip(SkipReason.IDENTITY_ERASED, "its identity is being erased")
    assert isinstance(answer_event(object_created(f"uploads/{BOB}/p.jpg"), on_s3), Answered)
    assert _answers(s3) == [f"answers/uploads/{BOB}/p.jpg.json"]
    remove_tombstone(STORE, identity_digest(ALICE))  # the erasure is over: ALICE uploads again
    assert isinstance(answer_event(object_created(f"uploads/{ALICE}/p.jpg"), on_s3), Answered)


def test_an_erasure_that_begins_while_the_answer_is_written_removes_it(
    on_s3: Runtime,
    s3,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write = service.write_answer

    def write_then_erasure_begins(root: str, key: str, answer: dict) -> bool:
        written = write(root, key, answer)
        _erasing(ALICE)
        return written

    monkeypatch.setattr(service, "write_answer", write_then_erasure_begins)
    result = answer_event(object_created(f"uploads/{ALICE}/p.jpg"), on_s3)
    assert isinstance(result, Skip) and result.reason == SkipReason.IDENTITY_ERASED
    assert _answers(s3) == []
    assert ALICE not in json.dumps(service.summary(result))
