"""Corrections in the store: one object per photo (the latest wins), read back, erased per identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_app.core.corrections import new_correction
from spark_app.core.uris import join_uri
from spark_app.store import objects
from spark_app.store.corrections import (
    corrections_root,
    erase_identity_corrections,
    identity_corrections,
    read_corrections,
    write_correction,
)

ALICE, BOB = (
    "eu-west-3:00000001-0000-4000-8000-000000000000",
    "eu-west-3:00000002-0000-4000-8000-000000000000",
)
# A prefix of ALICE's id, as a key: erasing ALICE must not touch it.
ALICE_PREFIX_TWIN = "eu-west-3:00000001-0000-4000-8000-00000000000"


def _correction(identity: str, photo: str, label: str = "Kiwi", n: int = 1):
    return new_correction(identity, photo, f"{n:064x}", label, known_classes={"Kiwi", "Lemon"})


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    request.getfixturevalue("s3_endpoint")
    return "s3://results/features-store"


def test_the_latest_correction_of_a_photo_wins_and_erasure_takes_only_that_identity(store: str) -> None:
    assert read_corrections(corrections_root(store)).records == ()  # no correction yet: nothing, no error
    write_correction(store, _correction(ALICE, "p1", "Lemon"))
    uri = write_correction(store, _correction(ALICE, "p1", "Kiwi"))  # the same photo again
    write_correction(store, _correction(ALICE, "p2", n=2))
    write_correction(store, _correction(BOB, "p1", n=3))
    write_correction(store, _correction(ALICE_PREFIX_TWIN, "p9", n=4))
    assert uri == join_uri(store, f"corrections/{ALICE}/p1.json")

    read = read_corrections(corrections_root(store))
    assert sorted((c.identity_id, c.photo_id, c.label) for c in read.records) == [
        (ALICE_PREFIX_TWIN, "p9", "Kiwi"),
        (ALICE, "p1", "Kiwi"),
        (ALICE, "p2", "Kiwi"),
        (BOB, "p1", "Kiwi"),
    ]
    assert len(identity_corrections(store, ALICE)) == 2

    assert erase_identity_corrections(store, ALICE) == 2
    assert identity_corrections(store, ALICE) == [] and erase_identity_corrections(store, ALICE) == 0
    left = {(c.identity_id, c.photo_id) for c in read_corrections(corrections_root(store)).records}
    assert left == {(BOB, "p1"), (ALICE_PREFIX_TWIN, "p9")}


def test_bad_objects_are_reported_and_skipped_never_fatal(store: str) -> None:
    root = corrections_root(store)
    write_correction(store, _correction(ALICE, "good"))
    objects.write_text(join_uri(root, ALICE, "broken.json"), "{not json")
    # A valid record stored under another identity's folder: erasing BOB would leave it behind.
    misplaced = _correction(ALICE, "moved").to_json()
    objects.write_text(join_uri(root, BOB, "moved.json"), misplaced)
    objects.write_text(join_uri(root, ALICE, "notes.txt"), "ignored: not a .json object")
    read = read_corrections(root)
    assert [c.photo_id for c in read.records] == ["good"]
    reasons = {uri.rsplit("/", 2)[-2] + "/" + uri.rsplit("/", 1)[-1]: why for uri, why in read.unreadable}
    assert reasons == {
        f"{ALICE}/broken.json": "not a JSON object",
        f"{BOB}/moved.json": f"a correction of corrections/{ALICE}/moved.json stored elsewhere",
    }


def test_the_writer_needs_neither_numpy_nor_spark_so_the_apps_api_can_ship_it() -> None:
    import subprocess
    import sys

    code = (
        "import sys, spark_app.store.corrections, spark_app.core.corrections; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyspark', 'PIL') if m in sys.modules))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "[]"
