"""An identity's erasure over a store, its buckets and its identity table (local files and moto S3, with
versioning): nothing of it is left, another identity's photo of the same bytes stays, it resumes after a
crash, and it waits for a writer that holds a lease."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber

from spark_app.core.corrections import new_correction
from spark_app.core.erasure import DONE, PENDING, Layout, identity_digest
from spark_app.core.uris import join_uri
from spark_app.job.inputs import InputItem
from spark_app.job.run import without_erased
from spark_app.store import objects
from spark_app.store.corrections import write_correction
from spark_app.store.erasure import ErasureRequest, erase_pass
from spark_app.store.identities import PARTITION_KEY, SORT_KEY, delete_cognito_identity
from spark_app.store.tombstones import lease, read_tombstone, tombstoned_digests
from tests.helpers.erasure_scan import Finding, scan_local, scan_s3

ALICE = "eu-west-3:00000001-0000-4000-8000-000000000000"
BOB = "eu-west-3:00000002-0000-4000-8000-000000000000"
SHARED_BYTES, ALICE_ONLY, ALICE_ERROR, CURATED = (f"{n:064x}" for n in (1, 2, 3, 4))
TABLE = "identities"


def _features(paths_and_ids: list[tuple[str, str]]) -> bytes:
    """A features file as Spark writes it (a subset of the columns; INT96 timestamps)."""
    table = pa.table(
        {
            "image_id": [i for _, i in paths_and_ids],
            "path": [p for p, _ in paths_and_ids],
            "label": [None if "/uploads/" in p else "Kiwi" for p, _ in paths_and_ids],
            "features": [[0.5, 0.25]] * len(paths_and_ids),
            "processed_at": pa.array(
                [datetime(2026, 12, 2, tzinfo=UTC)] * len(paths_and_ids), pa.timestamp("us")
            ),
            "top3_labels": [["Kiwi", "Lemon", "Lime"]] * len(paths_and_ids),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out, use_deprecated_int96_timestamps=True)
    return out.getvalue()


def _errors(rows: list[str]) -> bytes:
    out = io.BytesIO()
    pq.write_table(
        pa.table({"path": rows, "error_stage": ["decode"] * len(rows), "error": ["bad"] * len(rows)}), out
    )
    return out.getvalue()


def _upload(ingest: str, identity: str, photo: str) -> str:
    return join_uri(ingest, "uploads", identity, photo)


def seed(layout: Layout) -> dict[str, str]:
    """A store where ALICE and BOB uploaded (BOB once with the same bytes as ALICE's p1)."""
    a1, a3, a4 = (_upload(layout.ingest, ALICE, p) for p in ("p1.jpg", "p3.jpg", "p4.jpg"))
    b2, curated = _upload(layout.ingest, BOB, "p2.jpg"), join_uri(layout.ingest, "curated/Kiwi/c1.jpg")
    for uri in (a1, a3, a4, b2, curated):
        objects.write_bytes(uri, b"jpeg bytes")
    objects.write_bytes(join_uri(layout.ingest, "incoming", ALICE, "p5.jpg"), b"staged")
    for uri in (a1, a3, b2):
        key = uri.split("/", 3)[3] if uri.startswith("s3://") else uri[len(layout.ingest) + 1 :]
        answer = join_uri(layout.answers, key + ".json")
        objects.write_text(answer, json.dumps({"label": "Kiwi", "image_id": SHARED_BYTES}))
        objects.write_text(answer, json.dumps({"label": "Kiwi", "key": key}))  # a second version
    features = join_uri(layout.store, "features")
    objects.write_bytes(
        join_uri(features, "batch_id=b1/part-00000.parquet"),
        _features([(a1, SHARED_BYTES), (b2, SHARED_BYTES), (curated, CURATED)]),
    )
    objects.write_bytes(join_uri(features, "batch_id=b2/part-00000.parquet"), _features([(a3, ALICE_ONLY)]))
    objects.write_bytes(join_uri(features, "batch_id=b3/part-00000.parquet"), _features([(b2, SHARED_BYTES)]))
    objects.write_bytes(
        join_uri(layout.store, "errors/batch_id=b1/part-00000.parquet"), _errors([a4, curated])
    )
    manifest = "".join(json.dumps({"uri": u}) + "\n" for u in (a1, b2, curated))
    objects.write_text(join_uri(layout.manifests, "b1.jsonl"), manifest)
    objects.write_text(join_uri(layout.manifests, "b2.jsonl"), json.dumps({"uri": a3}) + "\n")
    write_correction(layout.store, new_correction(ALICE, "p1", SHARED_BYTES, "Kiwi", known_classes={"Kiwi"}))
    write_correction(layout.store, new_correction(BOB, "p2", SHARED_BYTES, "Kiwi", known_classes={"Kiwi"}))
    return {"a1": a1, "a3": a3, "a4": a4, "b2": b2}


def alice_needles(uris: dict[str, str]) -> list[str]:
    keys = [uris[n].split("/uploads/", 1)[1] for n in ("a1", "a3", "a4")]  # <id>/<photo>
    return [ALICE, *keys, SHARED_BYTES, ALICE_ONLY, identity_digest(ALICE)]


def only_bobs_twin_rows(findings) -> list:
    """The findings left once BOB's own records of the same bytes (rows, answer, correction) are set aside."""
    return [f for f in findings if not (f.needle == SHARED_BYTES and BOB in (f.row_path or f.where))]


@pytest.fixture(params=["local", "s3"])
def world(request: pytest.FixtureRequest, tmp_path: Path):
    """(layout, request of ALICE's erasure, scan of everything)."""
    if request.param == "local":
        layout = Layout(
            store=str(tmp_path / "store"),
            ingest=str(tmp_path / "ingest"),
            answers=str(tmp_path / "answers"),
            manifests=str(tmp_path / "ingest/manifests"),
        )
        return (
            layout,
            ErasureRequest(ALICE, layout, hold_seconds=0),
            lambda needles: scan_local(tmp_path, needles),
        )
    s3 = request.getfixturevalue("s3_endpoint")
    s3.put_bucket_versioning(Bucket="results", VersioningConfiguration={"Status": "Enabled"})
    dynamodb = boto3.client("dynamodb", endpoint_url=s3.meta.endpoint_url, region_name=s3.meta.region_name)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in (PARTITION_KEY, SORT_KEY)],
        BillingMode="PAY_PER_REQUEST",
    )
    for identity in (ALICE, BOB):
        for item in ("quota#0", "photo#p1"):
            dynamodb.put_item(TableName=TABLE, Item={PARTITION_KEY: {"S": identity}, SORT_KEY: {"S": item}})
    layout = Layout(
        store="s3://results/features-store",
        ingest="s3://ingest",
        answers="s3://results/answers",
        manifests="s3://ingest/manifests",
    )

    def scan(needles):
        items = dynamodb.scan(TableName=TABLE)["Items"]
        return scan_s3(s3, needles) + [
            Finding(f"dynamodb:{TABLE}", n) for n in needles if n in json.dumps(items)
        ]

    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", s3.meta.endpoint_url)
    monkeypatch.setenv("AWS_REGION", s3.meta.region_name)  # the erasure's clients: the table's region
    return layout, ErasureRequest(ALICE, layout, identity_table=TABLE, hold_seconds=0), scan


def test_erasure_leaves_nothing_of_the_identity_and_keeps_the_other_identitys_same_photo(world) -> None:
    layout, request, scan = world
    uris = seed(layout)
    assert only_bobs_twin_rows(scan(alice_needles(uris)))  # the seed holds ALICE everywhere

    receipt = erase_pass(request)

    assert receipt.status == DONE and receipt.passes == 1 and receipt.finished_at
    expected = {
        "corrections": 1,
        "staged": 1,
        "uploads": 3,
        "answers": 2,
        "manifests_rewritten": 2,
        "manifest_lines": 2,
        "feature_rows": 2,
        "error_rows": 1,
        "parquet_files_rewritten": 2,
        "parquet_files_deleted": 1,
    }
    if layout.store.startswith("s3://"):
        expected["identity_items"] = 2
    assert receipt.counts == expected
    assert only_bobs_twin_rows(scan(alice_needles(uris))) == []
    # BOB's photo of the same bytes, its answer, manifest line and correction stay; b2's partition is gone.
    assert len([f for f in scan([SHARED_BYTES]) if f.row_path == uris["b2"]]) == 2  # in b1 and b3
    assert len(scan([BOB])) >= 5
    assert not objects.exists(join_uri(layout.store, "features/batch_id=b2/part-00000.parquet"))
    kept = pq.read_table(
        io.BytesIO(objects.read_bytes(join_uri(layout.store, "features/batch_id=b1/part-00000.parquet")))
    )
    assert kept.column("path").to_pylist() == [uris["b2"], join_uri(layout.ingest, "curated/Kiwi/c1.jpg")]
    assert kept.schema.field("processed_at").type == pa.timestamp("ns")  # INT96, as Spark reads it
    # The receipt holds counts and times: no id, no digest, no key, no image id.
    stored = objects.read_text(join_uri(layout.store, f"erasure/receipts/{receipt.erasure_id}.json"))
    assert not any(n in stored for n in alice_needles(uris))
    assert tombstoned_digests(layout.store) == set()

    again = erase_pass(request)  # idempotent: a second erasure finds nothing
    assert again.status == DONE and set(again.counts.values()) == {0}


def test_a_crash_mid_way_is_finished_by_the_next_pass(tmp_path: Path) -> None:
    layout = Layout(
        str(tmp_path / "store"),
        str(tmp_path / "ingest"),
        answers=str(tmp_path / "answers"),
        manifests=str(tmp_path / "ingest/manifests"),
    )
    uris = seed(layout)
    request = ErasureRequest(ALICE, layout, hold_seconds=0)

    def crash(step: str) -> None:
        if step == "manifests":
            raise OSError("the machine died")

    with pytest.raises(OSError):
        erase_pass(request, hook=crash)
    tombstone = read_tombstone(layout.store, identity_digest(ALICE))
    assert tombstone is not None  # batches leave ALICE out meanwhile
    assert without_erased(layout.store, [InputItem(uris["a1"], None), InputItem(uris["b2"], None)]) == [
        InputItem(uris["b2"], None)
    ]

    receipt = erase_pass(request)  # the operator runs the command again
    assert receipt.erasure_id == tombstone.erasure_id and receipt.status == DONE  # the first erasure, resumed
    assert receipt.passes == 1  # the crashed pass wrote no receipt: its deletions are not counted
    assert receipt.counts["feature_rows"] == 2 and receipt.counts["uploads"] == 0  # deleted by the first pass
    assert only_bobs_twin_rows(scan_local(tmp_path, alice_needles(uris))) == []
    # The same identity uploads again afterwards: nothing stops it.
    assert without_erased(layout.store, [InputItem(uris["a1"], None)]) == [InputItem(uris["a1"], None)]


def test_a_writer_that_started_before_the_tombstone_is_waited_for_then_cleaned(tmp_path: Path) -> None:
    """Deterministic interleaving: a batch takes its lease and reads the tombstones (none), the erasure
    runs its first pass, then the batch writes ALICE's row and answer: the erasure's next pass, after the
    batch released its lease, removes them."""
    layout = Layout(
        str(tmp_path / "store"),
        str(tmp_path / "ingest"),
        answers=str(tmp_path / "answers"),
        manifests=str(tmp_path / "ingest/manifests"),
    )
    uris = seed(layout)
    request = ErasureRequest(ALICE, layout, hold_seconds=0)
    late = _upload(layout.ingest, ALICE, "p9.jpg")
    with lease(layout.store, "b4"):
        items = without_erased(layout.store, [InputItem(late, None)])  # before the tombstone: kept
        first = erase_pass(request)
        assert first.status == PENDING and first.waiting_for["writers"] == 1
        objects.write_bytes(
            join_uri(layout.store, "features/batch_id=b4/part-0.parquet"),
            _features([(items[0].uri, "9" * 64)]),
        )
        objects.write_text(join_uri(layout.answers, f"uploads/{ALICE}/p9.jpg.json"), "{}")
        assert erase_pass(request).status == PENDING  # still running: b4 is left alone
    final = erase_pass(request)
    assert final.status == DONE and final.passes == 3 and final.counts["feature_rows"] == 3
    assert only_bobs_twin_rows(scan_local(tmp_path, [*alice_needles(uris), "9" * 64])) == []


def test_the_hold_keeps_the_tombstone_and_a_later_pass_ends_it(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "store"))
    held = erase_pass(ErasureRequest(ALICE, layout, hold_seconds=3600))
    assert held.status == PENDING and held.waiting_for["writers"] == 0
    assert tombstoned_digests(layout.store) == {identity_digest(ALICE)}


def test_the_cognito_identity_is_deleted_with_one_request() -> None:
    client = boto3.client(
        "cognito-identity", region_name="eu-west-3", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "delete_identities", {"UnprocessedIdentityIds": []}, {"IdentityIdsToDelete": [ALICE]}
        )
        stub.add_response(
            "delete_identities",
            {"UnprocessedIdentityIds": [{"IdentityId": ALICE, "ErrorCode": "AccessDenied"}]},
            {"IdentityIdsToDelete": [ALICE]},
        )
        assert delete_cognito_identity(ALICE, client) == 1
        assert delete_cognito_identity(ALICE, client) == 0


def test_the_identity_tables_keys_are_the_app_apis() -> None:
    from lambdas.app_api import store

    assert (store.PARTITION_KEY, store.SORT_KEY) == (PARTITION_KEY, SORT_KEY)
