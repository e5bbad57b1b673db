"""Bootstrap before go-live in the local end-to-end flow, then the first answers.

The first batches run as in production (`--pca-model latest`, `--classifier latest`, nothing promoted
yet: rows without pca or prediction); the refit workflow's jobs (from the template) then fit one PCA
basis over the whole store, promote it, back-fill every batch, train a classifier on the labelled
(curated) data and promote it. New, unlabelled uploads are then projected and predicted directly, and
every upload has an answer the app can fetch. Two app identities send one photo each through the app
API with the new uploads (and what the API must refuse), then each reads its own answer
(tests/e2e/app_flow.py). Identity A then corrects (or confirms) its photo's label through the API, and
the refit's classifier steps run again as its state machine runs them: training counts the correction,
the promotion gate passes the new classifier and it is promoted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spark_app.core.corrections import parse_correction
from tests.e2e.app_flow import app_photos
from tests.e2e.local_flow import (
    FlowResult,
    bad_uploads,
    check,
    format_summary,
    read_table,
    run_flow,
    sample_uploads,
    trained_version,
    unlabelled_photos,
)

PHOTOS, CLASSES = 10, 5
APP_PHOTOS = 2  # one per identity


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> FlowResult:
    first = sample_uploads(PHOTOS, classes=CLASSES)
    classes = sorted({u.key.split("/")[0] for u in first})
    return run_flow(
        first + bad_uploads(),
        out_dir=tmp_path_factory.mktemp("pca-lifecycle"),
        duplicate_delivery=False,
        spark_logs_to_files=True,
        refit_min_images=8,
        after_refit=unlabelled_photos(classes),
        app_uploads=app_photos(APP_PHOTOS),
        app_abuse=True,
        app_corrections=True,
        erase_app_identity=True,
    )


@pytest.mark.spark
@pytest.mark.slow
def test_refit_puts_every_row_on_one_promoted_basis(flow: FlowResult) -> None:
    assert check(flow) == []
    steps = {s.command: s for s in flow.refit}
    assert list(steps) == ["FitPca", "PromotePca", "BackfillPca", "TrainClassifier", "PromoteClassifier"]
    assert all(s.exit_code == 0 for s in flow.refit)
    version = steps["FitPca"].report["fitted"]
    assert steps["FitPca"].report["images"] == PHOTOS and steps["FitPca"].report["batch_count"] == 1
    assert steps["PromotePca"].report == {"promoted": version, "previous": None, "changed": True}
    assert sum(steps["BackfillPca"].report["rewritten"].values()) == PHOTOS
    features = flow.features
    rows = PHOTOS + CLASSES + APP_PHOTOS
    assert len(features) == rows and set(features["pca_version"]) == {version}
    assert set(features["pca"].map(len)) == {steps["FitPca"].report["k"]}
    assert f"{version}: {rows} rows" in format_summary(flow)


@pytest.mark.spark
@pytest.mark.slow
def test_new_uploads_get_a_prediction_and_every_upload_an_answer(flow: FlowResult) -> None:
    steps = {s.command: s for s in flow.refit}
    classifier = steps["PromoteClassifier"].report["promoted"]
    new = flow.features[flow.features["label"].isna()]
    assert len(new) == CLASSES + APP_PHOTOS and set(new["classifier_version"]) == {classifier}
    assert new["predicted_label"].notna().all()
    uploads = {uri.split("/", 3)[3] for uri in flow.uploads}  # the object keys
    assert set(flow.answers) == uploads
    statuses = {key: a["status"] for key, a in flow.answers.items()}
    assert sorted(k for k, s in statuses.items() if s == "error") == sorted(
        f"curated/{u.key}" for u in bad_uploads()
    )
    fresh = {k: a for k, a in flow.answers.items() if Path(k).name.startswith("new-")}
    assert len(fresh) == CLASSES and all(
        a["status"] == "ok" and a["classifier_version"] == classifier for a in fresh.values()
    )
    right = sum(a["predicted_label"].replace(" ", "-") in k for k, a in fresh.items())
    # Trained on 2 photos per class here (the quality bar, 38 classes x 40, is in tests/spark_app).
    assert right >= 3, fresh


@pytest.mark.spark
@pytest.mark.slow
def test_the_batches_themselves_fitted_nothing(flow: FlowResult) -> None:
    assert all(run.exit_code == 0 for run in flow.executions)
    models = (
        flow.local_copy.parent.parent / flow.spec.names.artifacts_bucket / flow.spec.config.pca_models_prefix
    )
    versions = sorted(p.name for p in models.iterdir() if p.is_dir())
    assert versions == [flow.refit[0].report["fitted"]]


@pytest.mark.spark
@pytest.mark.slow
def test_the_instant_answer_came_first_with_the_batchs_numbers(flow: FlowResult) -> None:
    """For each new upload, the answer Lambda's answer (written first, kept) has the batch's numbers: same
    model_version, basis and classifier, the same label, the confidence to 1e-4; its features (the Lambda's
    extraction, recomputed here on the same bytes with the runtime the Lambda builds) have cosine >= 0.9999
    with the Spark job's row."""
    from lambdas.answer.config import load_config
    from lambdas.answer.runtime import build_runtime
    from lambdas.answer.service import answer_document
    from spark_app.core.heads import Heads
    from tests.e2e.answer_flow import answer_spec

    runtime = build_runtime(load_config(answer_spec(flow.spec).environment))
    classes = sorted({u.key.split("/")[0] for u in sample_uploads(PHOTOS, classes=CLASSES)})
    rows = {row.path: row for row in flow.features.itertuples()}
    bucket, prefix = flow.spec.names.ingestion_bucket, flow.spec.config.uploads_prefix
    for upload in unlabelled_photos(classes):
        key = f"{prefix}{upload.key}"
        answer, row = flow.answers[key], rows[f"s3://{bucket}/{key}"]
        assert answer["batch_id"] is None and flow.instant.results[key]["written"]
        assert answer["status"] == "ok" and answer["predicted_label"] == row.predicted_label
        assert abs(answer["confidence"] - row.confidence) <= 1e-4
        assert (answer["model_version"], answer["pca_version"], answer["classifier_version"]) == (
            row.model_version,
            row.pca_version,
            row.classifier_version,
        )
        assert [t["label"] for t in answer["top3"]] == list(row.top3_labels)
        _, extracted = answer_document(upload.body, runtime.extractor, Heads(), runtime.model_version)
        lam, spark = extracted.features.astype(np.float64), np.asarray(row.features, dtype=np.float64)
        assert float(lam @ spark / np.linalg.norm(lam) / np.linalg.norm(spark)) >= 0.9999


# ------------------------------------------------------------------------------- the app's door


@pytest.mark.spark
@pytest.mark.slow
def test_two_identities_each_send_a_photo_and_read_only_their_own_answer(flow: FlowResult) -> None:
    app = flow.app
    assert app is not None and [i.name for i in app.identities] == ["A", "B"]
    a, b = app.identities
    assert a.identity_id != b.identity_id
    classifier = {s.command: s for s in flow.refit}["PromoteClassifier"].report["promoted"]
    for identity in app.identities:
        (grant,) = identity.grants
        key = f"uploads/{identity.identity_id}/{grant.photo_id}.jpg"
        assert grant.answer_key == f"answers/{key}.json"
        # The client read, with its own credentials, exactly the document the job wrote for its photo.
        assert identity.answers == {grant.answer_key: flow.answers[key]}
        answer = identity.answers[grant.answer_key]
        assert answer["status"] == "ok" and answer["classifier_version"] == classifier
        assert len(answer["top3"]) == 3
    assert set(a.answers).isdisjoint(b.answers)
    # Each photo entered the pipeline as an ordinary upload, with no label from its identity folder.
    rows = flow.features.set_index("path")
    for identity in app.identities:
        key = f"uploads/{identity.identity_id}/{identity.grants[0].photo_id}.jpg"
        uri = f"s3://{flow.spec.names.ingestion_bucket}/{key}"
        assert rows.loc[uri, "label"] is None and rows.loc[uri, "predicted_label"] is not None
    assert check(flow) == []


@pytest.mark.spark
@pytest.mark.slow
def test_the_app_api_refuses_abuse_with_a_4xx_and_stores_nothing(flow: FlowResult) -> None:
    cases = {c.case: (c.status, c.code, c.left_behind) for c in flow.app.abuse}
    assert cases == {
        "HEIC photo": (415, "unsupported_type", ()),
        "oversize declaration": (413, "too_large", ()),
        "text named .jpg": (415, "not_an_image", ()),
        "decompression bomb": (422, "too_many_pixels", ()),
        "commit without upload": (404, "not_uploaded", ()),
        "reused grant": (409, "already_committed", ()),
    }
    assert flow.app.staged_left == []


@pytest.mark.spark
@pytest.mark.slow
def test_every_api_call_was_signed_routed_and_served_by_the_handler(flow: FlowResult) -> None:
    calls = flow.app.api_calls
    assert calls and all(c.route_key is not None for c in calls)  # no 403 (signature) or 404 (route)
    identities = {i.identity_id for i in flow.app.identities}
    assert {c.identity_id for c in calls} == identities
    assert {c.route_key for c in calls} == {
        "POST /photos",
        "POST /photos/{photo_id}/commit",
        "POST /photos/{photo_id}/correction",
    }
    # Every photo sent was POSTed with its grant's form, under its own identity's staged prefix.
    assert all(f"incoming/{f.identity_id}/" in f.fields["key"] for f in flow.app.forms)


# ------------------------------------------------------------------------------- people's corrections


@pytest.mark.spark
@pytest.mark.slow
def test_a_correction_through_the_app_flows_into_a_training_run_that_passes_the_gate(
    flow: FlowResult,
) -> None:
    first = {s.command: s for s in flow.refit}["PromoteClassifier"].report["promoted"]
    a = flow.app.identities[0]
    (grant,), (photo,) = a.grants, a.photos
    own, of_another, unknown = flow.app.corrections
    # A's correction of its own photo: its true class, against the answer of the first classifier.
    assert (own.case, own.status, own.label, photo.truth) == (
        "A corrects its own photo",
        201,
        *[photo.truth] * 2,
    )
    assert own.code in ("confirmation", "correction") and own.reply["answer"]["classifier_version"] == first
    # Refused: B correcting A's photo (not found under B's own id), a label that is not a class.
    assert (of_another.sender, of_another.owner, of_another.status, of_another.code) == (
        "B",
        "A",
        404,
        "not_found",
    )
    assert (unknown.status, unknown.code) == (422, "invalid_label")
    assert f"did you mean {photo.truth!r}?" in unknown.reply["message"]
    # One record in the store, under A's id, naming the bytes the features hold.
    stored = sorted((flow.local_copy / "corrections").rglob("*.json"))
    assert [p.relative_to(flow.local_copy).as_posix() for p in stored] == [
        f"corrections/{a.identity_id}/{grant.photo_id}.json"
    ]
    record = parse_correction(stored[0].read_text())
    row = flow.features.set_index("path").loc[
        f"s3://{flow.spec.names.ingestion_bucket}/uploads/{a.identity_id}/{grant.photo_id}.jpg"
    ]
    assert (record.identity_id, record.image_id, record.label) == (
        a.identity_id,
        row["image_id"],
        photo.truth,
    )
    assert record.classifier_version == first and record.model_version == row["model_version"]
    # The refit's classifier steps, run again: the correction counted, the gate passed, LATEST moved.
    steps = {s.command: s for s in flow.retrain}
    assert list(steps) == ["TrainClassifier", "PromoteClassifier"] and all(
        s.exit_code == 0 for s in flow.retrain
    )
    info = trained_version(flow)
    counts = info["corrections"]
    assert (counts["read"], counts["votes"], counts["identities"], counts["images"]) == (1, 1, 1, 1)
    assert counts["weight"] == 1.0 and counts["curated"] == counts["no_features"] == 0
    gate = info["gate"]
    assert gate["passed"] and gate["against"] == first and gate["reasons"] == []
    assert gate["top1"] >= gate["promoted_top1"] - 0.005  # curated top-1: not down by more than 0.5 point
    assert steps["PromoteClassifier"].report == {"promoted": info["name"], "previous": first, "changed": True}
    summary = format_summary(flow)
    assert "corrections     1 read: 1 image(s) from 1 identit(y/ies), weight 1.00" in summary
    assert f"gate            passed vs {first}" in summary


# ------------------------------------------------------------------------------- erasure


@pytest.mark.spark
@pytest.mark.slow
def test_identity_b_erased_through_the_app_leaves_nothing_and_can_upload_again(flow: FlowResult) -> None:
    """B erases itself at the end of the flow (A keeps its correction, checked above and here)."""
    erasure = flow.erasure
    assert erasure is not None and erasure.exit_code == 0, erasure
    a, b = flow.app.identities
    assert erasure.identity_id == b.identity_id
    # The pass ran with the template's arguments (two local departures: tests/e2e/erasure_flow.py).
    assert erasure.arguments[:5] == ["erase", "--identity", b.identity_id, "--erasure-id", erasure.erasure_id]
    receipt = erasure.receipt
    assert receipt["status"] == "done" and receipt["erasure_id"] == erasure.erasure_id
    counts = receipt["counts"]
    assert (counts["uploads"], counts["answers"], counts["feature_rows"]) == (1, 1, 1)
    assert counts["manifest_lines"] == 1 and counts["identity_items"] >= 2  # quota and commit records
    assert not any(n in json.dumps(receipt) for n in erasure.needles)  # counts and times only
    # Every bucket (all versions), the identity table and the local outputs: nothing of B.
    assert len(erasure.needles) == 4 and erasure.found == []  # id, photo id, key, image id
    # A is untouched: its row, its answer and its correction, in the local copy made after the erasure.
    after = read_table(flow.local_copy / "features")
    assert len(after) == len(flow.features) - 1
    assert [p for p in after["path"] if f"/{a.identity_id}/" in p] == [
        p for p in flow.features["path"] if f"/{a.identity_id}/" in p
    ]
    (grant,) = a.grants
    assert (flow.out_dir / flow.spec.names.results_bucket / grant.answer_key).is_file()
    assert (flow.local_copy / "corrections" / a.identity_id / f"{grant.photo_id}.json").is_file()
    # B sends a photo again afterwards: the answer Lambda answers it as usual.
    assert erasure.again.get("status") == "ok" and erasure.again.get("written") is True
    assert check(flow) == []
