"""Pure batch planning: one manifest and one deterministic batch id per batch."""

from __future__ import annotations

import json

from lambdas.ingest.batch import latest_per_uri, plan_batch
from lambdas.ingest.events import ParsedMessage, Skip, SkipReason, UploadedObject
from spark_app.core.manifest import ManifestEntry, batch_id_for, parse_manifest


def obj(
    uri: str, etag: str = "e1", sequencer: str | None = None, label: str | None = "Kiwi"
) -> UploadedObject:
    return UploadedObject(ManifestEntry(uri=uri, label=label, size=10, etag=etag), sequencer=sequencer)


SKIPPED = ParsedMessage(skipped=(Skip(SkipReason.TEST_EVENT, "S3 test event"),))


def test_no_valid_object_gives_no_plan() -> None:
    assert (
        plan_batch([("m1", SKIPPED), ("m2", ParsedMessage())], manifest_bucket="b", manifest_prefix="m/")
        is None
    )
    assert plan_batch([], manifest_bucket="b", manifest_prefix="m/") is None


def test_plan_merges_all_messages_into_one_manifest() -> None:
    messages = [
        ("m1", ParsedMessage(objects=(obj("s3://in/uploads/Kiwi/b.jpg"), obj("s3://in/uploads/Kiwi/a.jpg")))),
        ("m2", SKIPPED),
        ("m3", ParsedMessage(objects=(obj("s3://in/uploads/c.jpg", label=None),))),
    ]
    plan = plan_batch(messages, manifest_bucket="artifacts", manifest_prefix="manifests/")
    assert plan is not None
    assert [e.uri for e in plan.entries] == [
        "s3://in/uploads/Kiwi/a.jpg",
        "s3://in/uploads/Kiwi/b.jpg",
        "s3://in/uploads/c.jpg",
    ]
    assert plan.batch_id == batch_id_for(plan.entries)
    assert plan.manifest_key == f"manifests/{plan.batch_id}.jsonl"
    assert plan.manifest_uri == f"s3://artifacts/manifests/{plan.batch_id}.jsonl"
    assert plan.contributing_message_ids == ("m1", "m3")
    assert parse_manifest(plan.manifest_text) == list(plan.entries)
    assert json.loads(plan.execution_input()) == {
        "batch_id": plan.batch_id,
        "manifest_uri": plan.manifest_uri,
        "image_count": 3,
    }


def test_batch_id_is_a_valid_execution_name() -> None:
    plan = plan_batch(
        [("m", ParsedMessage(objects=(obj("s3://in/uploads/a.jpg"),)))],
        manifest_bucket="b",
        manifest_prefix="",
    )
    assert plan is not None
    assert len(plan.batch_id) <= 80
    assert all(c.isalnum() or c in "-_" for c in plan.batch_id)
    assert plan.manifest_key == f"{plan.batch_id}.jsonl"


def test_batch_id_does_not_depend_on_message_order() -> None:
    a = ParsedMessage(objects=(obj("s3://in/uploads/a.jpg"),))
    b = ParsedMessage(
        objects=(obj("s3://in/uploads/b.jpg"), obj("s3://in/uploads/a.jpg", etag="e0", sequencer="01"))
    )
    one = plan_batch([("m1", a), ("m2", b)], manifest_bucket="x", manifest_prefix="m/")
    two = plan_batch([("m2", b), ("m1", a)], manifest_bucket="x", manifest_prefix="m/")
    assert one is not None and two is not None
    assert (one.batch_id, one.manifest_text) == (two.batch_id, two.manifest_text)


def test_latest_upload_of_a_key_wins_by_sequencer_as_hex_number() -> None:
    uri = "s3://in/uploads/a.jpg"
    entries = latest_per_uri([obj(uri, etag="new", sequencer="0FF"), obj(uri, etag="old", sequencer="0A0")])
    assert [e.etag for e in entries] == ["new"]
    # Different lengths: "FF" > "100" as strings, but 0x100 is the later event.
    entries = latest_per_uri(
        [obj(uri, etag="later", sequencer="100"), obj(uri, etag="earlier", sequencer="FF")]
    )
    assert [e.etag for e in entries] == ["later"]
    entries = latest_per_uri(
        [obj(uri, etag="earlier", sequencer="FF"), obj(uri, etag="later", sequencer="100")]
    )
    assert [e.etag for e in entries] == ["later"]


def test_duplicate_uri_keeps_one_entry_and_batch_id_matches_manifest() -> None:
    uri = "s3://in/uploads/a.jpg"
    plan = plan_batch(
        [
            ("m1", ParsedMessage(objects=(obj(uri, etag="x"),))),
            ("m2", ParsedMessage(objects=(obj(uri, etag="x"),))),
        ],
        manifest_bucket="b",
        manifest_prefix="m/",
    )
    assert plan is not None
    assert len(plan.entries) == 1
    assert plan.batch_id == batch_id_for(parse_manifest(plan.manifest_text))
    assert plan.contributing_message_ids == ("m1", "m2")
