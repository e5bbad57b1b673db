"""Erasure's pure part: which URIs are an identity's, the manifest filter, the records and the rules."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from spark_app.core.erasure import (
    ALL_PARTITIONS,
    ErasureError,
    Layout,
    Lease,
    Receipt,
    Tombstone,
    blocked,
    check_erasure_id,
    erasure_prefixes,
    filter_manifest,
    finished,
    identity_digest,
    identity_in,
    names_identity,
    tombstoned,
)

pytestmark = pytest.mark.fast

ALICE = "eu-west-3:00000001-0000-4000-8000-000000000000"
TWIN = "eu-west-3:00000001-0000-4000-8000-00000000000"  # a prefix of ALICE's id
ERASURE_ID = "0" * 31 + "1"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("uri", "identity"),
    [
        (f"s3://ingest/uploads/{ALICE}/p1.jpg", ALICE),
        (f"s3://ingest/uploads/{TWIN}/p1.jpg", TWIN),
        (f"/data/store/answers/uploads/{ALICE}/p1.jpg.json", ALICE),
        ("s3://ingest/uploads/Kiwi/new-1.jpg", None),  # not an app identity's folder
        (f"s3://ingest/curated/{ALICE}/p1.jpg", None),  # not under uploads/
        (f"s3://ingest/uploads/{ALICE}", None),  # the folder itself, no object
        (f"s3://ingest/uploads/Kiwi/uploads/{ALICE}/x.jpg", ALICE),  # the first identity segment counts
    ],
)
def test_the_identity_of_an_upload_is_its_folder_under_uploads(uri: str, identity: str | None) -> None:
    assert identity_in(uri, "uploads/") == identity


def test_an_identity_never_matches_another_whose_id_is_its_prefix() -> None:
    assert names_identity(f"s3://i/uploads/{ALICE}/p.jpg", ALICE, "uploads/")
    assert not names_identity(f"s3://i/uploads/{ALICE}/p.jpg", TWIN, "uploads/")
    assert not names_identity(f"s3://i/uploads/{TWIN}/p.jpg", ALICE, "uploads/")


def test_tombstones_name_the_sha256_of_the_id_and_match_its_uploads_only() -> None:
    digest = identity_digest(ALICE)
    assert digest == hashlib.sha256(ALICE.encode()).hexdigest() and ALICE not in digest
    assert tombstoned(f"s3://i/uploads/{ALICE}/p.jpg", {digest}, "uploads/")
    assert not tombstoned(f"s3://i/uploads/{TWIN}/p.jpg", {digest}, "uploads/")
    assert not tombstoned("s3://i/curated/Kiwi/p.jpg", {digest}, "uploads/")


def test_the_prefixes_of_an_identity_are_its_own_folders() -> None:
    layout = Layout(store="s3://r/store", ingest="s3://i", answers="s3://r/answers")
    assert erasure_prefixes(layout, ALICE) == {
        "corrections": f"s3://r/store/corrections/{ALICE}/",
        "staged": f"s3://i/incoming/{ALICE}/",
        "uploads": f"s3://i/uploads/{ALICE}/",
        "answers": f"s3://r/answers/uploads/{ALICE}/",
    }
    assert set(erasure_prefixes(Layout(store="/s"), ALICE)) == {"corrections"}
    with pytest.raises(ValueError, match="not a Cognito identity id"):
        erasure_prefixes(layout, "../uploads")


def test_the_manifest_filter_drops_the_identitys_lines_and_keeps_the_others_byte_for_byte() -> None:
    lines = [
        json.dumps({"uri": f"s3://i/uploads/{ALICE}/p1.jpg", "etag": "a"}) + "\n",
        json.dumps({"uri": f"s3://i/uploads/{TWIN}/p1.jpg", "etag": "b"}) + "\n",
        '{"label": "Kiwi",   "uri": "s3://i/curated/Kiwi/1.jpg"}\n',
        "\n",
        "not json\n",
        json.dumps({"uri": f"s3://i/uploads/{ALICE}/p2.jpg"}),
    ]
    kept, dropped = filter_manifest("".join(lines), lambda uri: names_identity(uri, ALICE, "uploads/"))
    assert dropped == 2 and kept == "".join(lines[1:5])
    assert filter_manifest(kept, lambda uri: False) == (kept, 0)


def test_records_round_trip_and_hold_no_identity() -> None:
    tombstone = Tombstone.new(ALICE, ERASURE_ID, NOW, 3600)
    assert Tombstone.parse(tombstone.to_json()) == tombstone
    assert ALICE not in tombstone.to_json() and tombstone.hold_until == "2026-12-02T13:00:00.000000Z"
    lease = Lease.new("b1.x", "b1", NOW, 60)
    assert Lease.parse(lease.to_json()) == lease
    receipt = Receipt(ERASURE_ID, started_at=tombstone.created_at)
    receipt.add({"uploads": 2, "feature_rows": 3})
    receipt.add({"uploads": 0, "feature_rows": 1})
    assert Receipt.parse(receipt.to_json()) == receipt and receipt.counts == {"uploads": 2, "feature_rows": 4}
    assert tombstone.digest not in receipt.to_json()
    with pytest.raises(ErasureError, match="32 lower-case hex"):
        check_erasure_id("../x")
    assert check_erasure_id(ERASURE_ID) == ERASURE_ID


def test_a_live_lease_blocks_its_partition_and_a_backfill_blocks_all() -> None:
    batch = Lease.new("b1.x", "b1", NOW, 60)
    backfill = Lease.new("all.y", ALL_PARTITIONS, NOW, 60)
    assert blocked("b1", [batch], NOW) and not blocked("b2", [batch], NOW)
    assert blocked("b2", [backfill], NOW)
    assert not blocked("b1", [batch], NOW + timedelta(seconds=61))  # a crashed writer's lease expired


def test_an_erasure_finishes_after_its_hold_with_no_writer_left() -> None:
    tombstone = Tombstone.new(ALICE, ERASURE_ID, NOW, 600)
    assert not finished(0, NOW, tombstone)
    assert not finished(1, NOW + timedelta(seconds=600), tombstone)
    assert finished(0, NOW + timedelta(seconds=600), tombstone)
