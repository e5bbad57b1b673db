"""Answers are written once: the first writer wins, on S3 (``If-None-Match: *``) and on a local disk."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from spark_app.store import objects
from spark_app.store.answers import write_answer, write_answers


def test_a_local_answer_is_created_once_and_never_replaced(tmp_path) -> None:
    root = str(tmp_path / "answers")
    assert write_answer(root, "uploads/a/photo.jpg", {"status": "ok", "predicted_label": "Kiwi"})
    assert not write_answer(root, "uploads/a/photo.jpg", {"status": "error"})
    document = tmp_path / "answers" / "uploads" / "a" / "photo.jpg.json"
    assert json.loads(document.read_text()) == {"predicted_label": "Kiwi", "status": "ok"}
    assert [p.name for p in document.parent.iterdir()] == ["photo.jpg.json"]  # no lock or temporary file


def test_concurrent_local_writers_one_wins_and_the_file_is_whole(tmp_path) -> None:
    uri = str(tmp_path / "k.json")
    texts = [json.dumps({"writer": i, "pad": "x" * 100_000}) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda text: objects.create_text(uri, text), texts))
    assert sum(won) == 1
    assert (tmp_path / "k.json").read_text() == texts[won.index(True)]


def test_write_answers_counts_only_what_it_wrote(tmp_path) -> None:
    root = str(tmp_path)
    write_answer(root, "b.jpg", {"status": "ok"})
    pairs = [(f"{name}.jpg", {"status": "no_classifier"}) for name in "abc"]
    assert write_answers(root, pairs) == 2
    assert write_answers(root, pairs) == 0
    assert json.loads((tmp_path / "b.jpg.json").read_text()) == {"status": "ok"}


def test_on_s3_the_second_writer_gets_false_and_the_first_answer_stays(s3_endpoint) -> None:
    root = "s3://results/answers"
    assert write_answer(root, "uploads/x.jpg", {"status": "ok", "predicted_label": "Kiwi"})
    assert not write_answer(root, "uploads/x.jpg", {"status": "no_classifier"})
    body = s3_endpoint.get_object(Bucket="results", Key="answers/uploads/x.jpg.json")["Body"].read()
    assert json.loads(body) == {"predicted_label": "Kiwi", "status": "ok"}


def test_an_object_above_the_limit_is_refused_before_reading(s3_endpoint, tmp_path) -> None:
    s3_endpoint.put_object(Bucket="ingest", Key="uploads/big.jpg", Body=b"x" * 2048)
    with pytest.raises(objects.ObjectTooLarge, match="2,048 bytes, above the limit of 1,024"):
        objects.read_bytes("s3://ingest/uploads/big.jpg", max_bytes=1024)
    (tmp_path / "big.jpg").write_bytes(b"x" * 2048)
    with pytest.raises(objects.ObjectTooLarge):
        objects.read_bytes(str(tmp_path / "big.jpg"), max_bytes=1024)


class _ConflictingClient:
    """An S3 client whose first PutObject meets a 409 ConditionalRequestConflict (a concurrent delete)."""

    def __init__(self, codes: list[str]):
        self.codes, self.calls = codes, []

    def put_object(self, **kwargs) -> dict:
        self.calls.append(kwargs)
        if self.codes:
            code = self.codes.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "PutObject")
        return {}


def test_a_409_conflict_is_retried_and_a_412_means_answered(monkeypatch) -> None:
    client = _ConflictingClient(["ConditionalRequestConflict"])
    monkeypatch.setattr(objects, "s3_client", lambda: client)
    assert objects.create_text("s3://results/answers/k.json", "{}") is True
    assert [c["IfNoneMatch"] for c in client.calls] == ["*", "*"]

    client = _ConflictingClient(["PreconditionFailed"])
    monkeypatch.setattr(objects, "s3_client", lambda: client)
    assert objects.create_text("s3://results/answers/k.json", "{}") is False

    client = _ConflictingClient(["AccessDenied"])
    monkeypatch.setattr(objects, "s3_client", lambda: client)
    with pytest.raises(objects.StorageError, match="access denied"):
        objects.create_text("s3://results/answers/k.json", "{}")
