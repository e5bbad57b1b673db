"""Pure parsing and validation of S3 notifications (no AWS)."""

from __future__ import annotations

import json

import pytest

from lambdas.ingest.events import MalformedMessageError, Skip, SkipReason, UploadedObject, parse_message
from spark_app.core.manifest import ManifestEntry
from tests.lambdas.builders import INGEST_BUCKET, s3_body, s3_record, s3_test_event_body

LIMIT = 1000


def parse(
    body: str, *, uploads_prefix: str = "uploads/", max_object_bytes: int = LIMIT, curated: str = "curated/"
):
    return parse_message(
        body, uploads_prefix=uploads_prefix, max_object_bytes=max_object_bytes, curated_prefix=curated
    )


def only_entry(body: str) -> ManifestEntry:
    result = parse(body)
    assert result.skipped == ()
    assert len(result.objects) == 1
    return result.objects[0].entry


def only_skip(body: str) -> Skip:
    result = parse(body)
    assert result.objects == ()
    assert len(result.skipped) == 1
    return result.skipped[0]


def test_valid_record_becomes_manifest_entry_with_label_size_etag_and_sequencer() -> None:
    result = parse(s3_body(s3_record("curated/Kiwi/a.jpg", size=512, etag="abc", sequencer="00FF")))
    assert result.objects == (
        UploadedObject(
            ManifestEntry(uri=f"s3://{INGEST_BUCKET}/curated/Kiwi/a.jpg", label="Kiwi", size=512, etag="abc"),
            sequencer="00FF",
        ),
    )
    assert result.skipped == ()


@pytest.mark.parametrize(
    "key",
    [
        "uploads/eu-west-3:3f291106-8703-466b-8f2b-3ecee1ca56ce/0b6e2c1e-6d55-4d8e-9a59-2f7ad3c0d1b4.jpg",
        "uploads/Kiwi/a.jpg",
        "uploads/Training/Kiwi/a.jpg",
        "uploads/curated/Kiwi/a.jpg",
    ],
)
def test_an_upload_never_carries_a_label_whatever_its_folders(key: str) -> None:
    entry = only_entry(s3_body(s3_record(key)))
    assert entry.uri == f"s3://{INGEST_BUCKET}/{key}" and entry.label is None


def test_plus_in_key_decodes_to_space() -> None:
    entry = only_entry(s3_body(s3_record("curated/Apple+Braeburn/img+1.jpg", encode=False)))
    assert entry.uri == f"s3://{INGEST_BUCKET}/curated/Apple Braeburn/img 1.jpg"
    assert entry.label == "Apple Braeburn"


def test_percent_encoded_non_ascii_and_literal_plus_decode() -> None:
    # S3 sends "Pêche/crème+brûlée %2B.jpg" for the key "Pêche/crème brûlée +.jpg".
    raw = "curated/P%C3%AAche/cr%C3%A8me+br%C3%BBl%C3%A9e+%2B.JPG"
    entry = only_entry(s3_body(s3_record(raw, encode=False)))
    assert entry.uri == f"s3://{INGEST_BUCKET}/curated/Pêche/crème brûlée +.JPG"
    assert entry.label == "Pêche"


def test_builder_encoding_round_trips_like_s3() -> None:
    key = "uploads/Fraise des bois/été 2025 (1)+.jpeg"
    assert only_entry(s3_body(s3_record(key))).uri == f"s3://{INGEST_BUCKET}/{key}"


def test_object_directly_under_prefix_has_no_label() -> None:
    assert only_entry(s3_body(s3_record("uploads/a.png"))).label is None
    assert only_entry(s3_body(s3_record("curated/a.png"))).label is None


def test_several_records_in_one_message_keep_their_order() -> None:
    body = s3_body(
        s3_record("curated/Kiwi/1.jpg"),
        s3_record("curated/Lemon/2.webp"),
        s3_record("curated/Lemon/notes.txt"),
    )
    result = parse(body)
    assert [o.entry.label for o in result.objects] == ["Kiwi", "Lemon"]
    assert [s.reason for s in result.skipped] == [SkipReason.UNSUPPORTED_EXTENSION]


def test_s3_test_event_is_skipped_not_failed() -> None:
    skip = only_skip(s3_test_event_body())
    assert skip.reason is SkipReason.TEST_EVENT


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("other/Kiwi/a.jpg", "uploads/"),
        ("uploadsX/a.jpg", "uploads/"),
        ("Uploads/Kiwi/a.jpg", "uploads/"),
        ("incoming/eu-west-3:3f291106-8703-466b-8f2b-3ecee1ca56ce/x.jpg", "uploads/"),
        ("curatedX/Kiwi/a.jpg", "uploads/"),
    ],
)
def test_key_outside_uploads_and_curated_prefixes_is_skipped(key: str, prefix: str) -> None:
    result = parse(s3_body(s3_record(key)), uploads_prefix=prefix)
    assert result.objects == ()
    assert [(s.reason, s.key) for s in result.skipped] == [(SkipReason.OUTSIDE_UPLOADS_PREFIX, key)]
    assert "'uploads/' or 'curated/'" in result.skipped[0].detail


def test_empty_uploads_prefix_accepts_whole_bucket_and_labels_only_curated_objects() -> None:
    result = parse(s3_body(s3_record("Kiwi/a.jpg"), s3_record("curated/Kiwi/b.jpg")), uploads_prefix="")
    assert [o.entry.label for o in result.objects] == [None, "Kiwi"]


def test_without_a_curated_prefix_nothing_is_labelled() -> None:
    result = parse_message(
        s3_body(s3_record("uploads/Kiwi/a.jpg"), s3_record("curated/Kiwi/b.jpg")),
        uploads_prefix="uploads/",
        max_object_bytes=LIMIT,
    )
    assert [o.entry.label for o in result.objects] == [None]
    assert [s.reason for s in result.skipped] == [SkipReason.OUTSIDE_UPLOADS_PREFIX]


@pytest.mark.parametrize(
    "key", ["uploads/Kiwi/a.txt", "uploads/Kiwi/a", "uploads/Kiwi/", "uploads/Kiwi/a.jpg.zip"]
)
def test_unsupported_extension_is_skipped_with_reason(key: str) -> None:
    skip = only_skip(s3_body(s3_record(key)))
    assert skip.reason is SkipReason.UNSUPPORTED_EXTENSION
    assert "unsupported file extension" in skip.detail


@pytest.mark.parametrize("key", ["uploads/Kiwi/A.JPG", "uploads/Kiwi/a.TiFf", "uploads/Kiwi/a.b.png"])
def test_extension_check_is_case_insensitive(key: str) -> None:
    assert only_entry(s3_body(s3_record(key))).uri.endswith(key)


def test_zero_size_object_is_skipped() -> None:
    skip = only_skip(s3_body(s3_record("uploads/Kiwi/a.jpg", size=0)))
    assert skip.reason is SkipReason.EMPTY_OBJECT


def test_oversized_object_is_skipped_and_limit_is_inclusive() -> None:
    skip = only_skip(s3_body(s3_record("uploads/Kiwi/big.jpg", size=LIMIT + 1)))
    assert skip.reason is SkipReason.OBJECT_TOO_LARGE
    assert str(LIMIT + 1) in skip.detail and str(LIMIT) in skip.detail
    assert only_entry(s3_body(s3_record("uploads/Kiwi/max.jpg", size=LIMIT))).size == LIMIT


def test_non_object_created_event_is_skipped() -> None:
    skip = only_skip(s3_body(s3_record("uploads/Kiwi/a.jpg", event_name="ObjectRemoved:Delete", etag=None)))
    assert skip.reason is SkipReason.NOT_OBJECT_CREATED


def test_missing_etag_and_sequencer_are_allowed() -> None:
    result = parse(s3_body(s3_record("uploads/Kiwi/a.jpg", etag=None, sequencer=None)))
    assert result.objects[0].entry.etag is None and result.objects[0].sequencer is None


def record_without(path: tuple[str, ...]) -> str:
    record = s3_record("uploads/Kiwi/a.jpg")
    target = record
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return s3_body(record)


def record_with(path: tuple[str, ...], value: object) -> str:
    record = s3_record("uploads/Kiwi/a.jpg")
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return s3_body(record)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json at all", "not valid JSON"),
        ("", "not valid JSON"),
        ('["a", "list"]', "not a JSON object"),
        ("{}", "no 'Records'"),
        ('{"Records": []}', "no 'Records'"),
        ('{"Records": "nope"}', "no 'Records'"),
        # An SNS envelope (S3 -> SNS -> SQS) is not what this queue should receive.
        (
            json.dumps({"Type": "Notification", "Message": s3_body(s3_record("uploads/a.jpg"))}),
            "no 'Records'",
        ),
        ('{"Records": ["x"]}', "record 0"),
        ('{"Records": [null]}', "record 0"),
        (record_with(("eventSource",), "aws:sns"), "eventSource is 'aws:sns'"),
        (record_without(("eventSource",)), "eventSource"),
        (record_without(("eventName",)), "record 0"),
        (record_without(("s3",)), "record 0"),
        (record_with(("s3",), None), "record 0"),
        (record_without(("s3", "bucket")), "record 0"),
        (record_with(("s3", "bucket", "name"), ""), "s3.bucket.name"),
        (record_without(("s3", "object", "key")), "record 0"),
        (record_with(("s3", "object", "key"), 42), "s3.object.key"),
        (record_without(("s3", "object", "size")), "size"),
        (record_with(("s3", "object", "size"), "12"), "size"),
        (record_with(("s3", "object", "size"), True), "size"),
        (record_with(("s3", "object", "size"), -1), "size"),
    ],
)
def test_malformed_or_non_s3_message_raises(body: str, message: str) -> None:
    with pytest.raises(MalformedMessageError, match=message):
        parse(body)


def test_one_bad_record_fails_the_whole_message() -> None:
    body = json.dumps({"Records": [s3_record("uploads/Kiwi/a.jpg"), {"eventSource": "aws:s3"}]})
    with pytest.raises(MalformedMessageError, match="record 1"):
        parse(body)
