"""Erasure while a batch holding the identity's photos is running: once both finish, nothing is left.

Deterministic interleaving, no sleeps: the batch (the real job, one small Spark run) took its lease, read
the tombstones (none yet) and wrote its features partition and answers; the erasure's first pass runs
right then, while the batch still holds its lease (before its errors, catalog and summary): it deletes
what it may and leaves the batch's partition alone. Its next pass, after the batch released its lease,
rewrites that partition (a file Spark wrote, rewritten in place, which Spark still reads).
Another identity's photo of the same bytes keeps its row and answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import spark_app.job.run as job_run
from spark_app.core.erasure import DONE, PENDING, Layout
from spark_app.job.config import RunConfig
from spark_app.store.erasure import ErasureRequest, erase_pass
from tests.helpers.erasure_scan import scan_local
from tests.helpers.images import real_images

pytestmark = pytest.mark.spark

ALICE = "eu-west-3:00000001-0000-4000-8000-000000000000"
BOB = "eu-west-3:00000002-0000-4000-8000-000000000000"


def test_erasure_during_a_batch_leaves_nothing_once_both_finish(spark, tmp_path: Path, monkeypatch) -> None:
    first, second = (p.read_bytes() for p in real_images(2))
    ingest, store, answers = tmp_path / "ingest", tmp_path / "store", tmp_path / "answers"
    photos = {f"{ALICE}/p1.jpg": first, f"{ALICE}/p3.jpg": second, f"{BOB}/p2.jpg": first}
    for key, body in photos.items():
        (ingest / "uploads" / key).parent.mkdir(parents=True, exist_ok=True)
        (ingest / "uploads" / key).write_bytes(body)
    layout = Layout(store=str(store), ingest=str(ingest), answers=str(answers))
    request = ErasureRequest(ALICE, layout, hold_seconds=0)
    passes = []
    finish = job_run.finish

    def erasure_starts_mid_batch(spark_session, prepared, outcome, summary):
        assert len(prepared.items) == 3  # the batch read the tombstones before the erasure began
        passes.append(erase_pass(request))
        return finish(spark_session, prepared, outcome, summary)

    monkeypatch.setattr(job_run, "finish", erasure_starts_mid_batch)
    summary = job_run.run(
        RunConfig(input=str(ingest), output=str(store), batch_id="b1", answers=str(answers)), spark
    )
    assert (summary.images, summary.errors, summary.answers_written) == (3, 0, 3)
    assert passes[0].status == PENDING and passes[0].waiting_for["writers"] == 1

    final = erase_pass(request)

    assert final.status == DONE and final.passes == 2
    assert {k: final.counts[k] for k in ("uploads", "answers", "feature_rows", "error_rows")} == {
        "uploads": 2,
        "answers": 2,
        "feature_rows": 2,  # by pass 2: pass 1 left the running batch's partition alone
        "error_rows": 0,
    }
    assert passes[0].counts["feature_rows"] == 0
    shared, alices = (hashlib.sha256(b).hexdigest() for b in (first, second))
    needles = [ALICE, f"{ALICE}/p1.jpg", f"{ALICE}/p3.jpg", shared, alices]
    left = [
        f
        for f in scan_local(tmp_path, needles)
        if not (f.needle == shared and BOB in (f.row_path or f.where))
    ]
    assert left == []
    rows = pd.read_parquet(store / "features")
    assert list(rows["path"]) == [str(ingest / "uploads" / BOB / "p2.jpg")] and list(rows["image_id"]) == [
        shared
    ]
    assert (answers / "uploads" / BOB / "p2.jpg.json").is_file()
    # Spark still reads the rewritten partition (the file pyarrow rewrote in place).
    assert spark.read.parquet(str(store / "features")).count() == 1
