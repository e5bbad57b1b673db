"""Local Spark runs of the whole job: counts, schema, labels, nothing lost or duplicated."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from spark_app import classifier
from spark_app.manifest import ManifestEntry, dumps_manifest
from spark_app.pca import LATEST, resolve_model_uri
from spark_app.pipeline import RunConfig, run, single_pass_job_group
from spark_app.registry import complete_versions, promote
from tests.helpers.images import (
    SECRET,
    SHARED_SAMPLE,
    bad_and_unusual_inputs,
    real_images,
    real_sample_dir,
    write_inputs,
)

pytestmark = pytest.mark.spark
UNUSUAL = bad_and_unusual_inputs()
EXPECTED_ERRORS = {name: stage for name, (_, stage) in UNUSUAL.items() if stage}


def _read(output: Path, dataset: str, batch_id: str) -> pd.DataFrame:
    """One batch's partition of a dataset (empty when the partition does not exist)."""
    partition = output / dataset / f"batch_id={batch_id}"
    if not partition.is_dir():
        return pd.DataFrame({"path": [], "error_stage": [], "error": []})
    return pd.read_parquet(partition).reset_index(drop=True)


@pytest.fixture(scope="module")
def main_run(spark, tmp_path_factory):
    """Real sample (all of it when ../shared is present) + every bad input, in one batch."""
    root = tmp_path_factory.mktemp("inputs") / "photos"
    shutil.copytree(real_sample_dir(), root / "real")
    write_inputs(root / "odd ones", UNUSUAL)  # labelled "odd ones"
    (root / "at root.jpg").write_bytes(UNUSUAL["UPPER.JPG"][0])  # no parent folder: no label
    output = tmp_path_factory.mktemp("out")
    files = sorted(str(p) for p in root.rglob("*") if p.is_file())
    config = RunConfig(
        input=str(root),
        output=str(output),
        batch_id="main",
        pca_variance=0.9,
        pca_fit_any_size=True,
        files_per_partition=max(4, len(files) // 16),  # many more partitions than Python workers
        report_dir=str(output / "report"),
    )
    summary = run(config, spark)
    return config, summary, files, output, root


def test_every_input_is_a_row_or_an_error_exactly_once(main_run) -> None:
    _config, summary, files, output, _root = main_run
    rows, errors = _read(output, "features", "main"), _read(output, "errors", "main")
    assert summary.inputs == len(files)
    assert (summary.images, summary.errors) == (len(rows), len(errors))
    assert len(rows) + len(errors) == len(files)
    assert sorted([*rows["path"], *errors["path"]]) == files
    assert rows["path"].is_unique and errors["path"].is_unique


def test_bad_inputs_get_clear_error_records(main_run) -> None:
    _config, summary, _files, output, _root = main_run
    errors = _read(output, "errors", "main")
    by_name = {
        Path(p).name: (stage, reason)
        for p, stage, reason in zip(errors["path"], errors["error_stage"], errors["error"], strict=True)
    }
    licences = {n for n in by_name if not n.lower().endswith((".jpg", ".png"))} - set(EXPECTED_ERRORS)
    assert set(by_name) - licences == set(EXPECTED_ERRORS)
    assert {n: by_name[n][0] for n in EXPECTED_ERRORS} == EXPECTED_ERRORS
    assert "empty file" in by_name["zero-byte.jpg"][1]
    assert "truncated" in by_name["truncated.jpg"][1]
    assert "not a supported image" in by_name["text-named.jpg"][1]
    assert "too large" in by_name["huge-400mp.png"][1]
    assert "unsupported file extension .txt" in by_name["notes.txt"][1]
    assert summary.errors_by_stage["decode"] == 4


def test_schema_labels_and_values(main_run) -> None:
    _config, summary, _files, output, _root = main_run
    rows = _read(output, "features", "main")
    schema = pq.read_schema(next((output / "features" / "batch_id=main").glob("*.parquet")))
    assert [f.name for f in schema] == [
        "image_id",
        "path",
        "label",
        "width",
        "height",
        "features",
        "pca",
        "model_version",
        "pca_version",
        "processing_ms",
        "processed_at",
        "predicted_label",
        "confidence",
        "top3_labels",
        "top3_confidences",
        "classifier_version",
    ]
    assert str(schema.field("features").type) == "list<element: float>"
    assert str(schema.field("pca").type).startswith("list<element: float")
    assert rows["features"].map(len).eq(1280).all()
    assert rows["pca"].map(len).eq(summary.pca_k).all()
    assert summary.pca_fitted and summary.explained_variance >= 0.9
    assert (rows["model_version"] == summary.model_version).all()
    assert (rows["pca_version"] == summary.pca_version).all()
    real = rows[rows["path"].str.contains("/real/")]
    assert (real["label"] == real["path"].map(lambda p: Path(p).parent.name)).all()
    assert real["label"].nunique() >= 8 and (real[["width", "height"]] == 100).all().all()
    odd = rows.set_index(rows["path"].map(lambda p: Path(p).name))
    assert odd.loc["rotated-exif.jpg", ["width", "height"]].tolist() == [80, 120]
    assert odd.loc["name with spaces é ü.jpg", "label"] == "odd ones"
    assert pd.isna(odd.loc["at root.jpg", "label"])
    assert odd.loc["name with spaces é ü.jpg", "image_id"] == odd.loc["UPPER.JPG", "image_id"]


def test_report_plots_are_written(main_run) -> None:
    _config, summary, _files, output, _root = main_run
    assert all(Path(p).parent == output / "report" for p in summary.report_files)
    names = sorted(Path(p).name for p in summary.report_files)
    assert names == ["explained_variance.png", "pca_scatter.png"]
    for path in summary.report_files:
        data = Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_model_is_built_once_per_python_worker(main_run) -> None:
    config, summary, files, _output, _root = main_run
    assert len(files) / config.files_per_partition > 8  # more partitions than workers
    assert 1 <= summary.model_builds <= 2  # local[2]: at most two Python workers


def test_no_exif_or_gps_in_any_output(main_run) -> None:
    _config, _summary, _files, output, _root = main_run
    for path in output.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path


def test_rerun_replaces_the_batch_and_stale_errors_go(main_run, spark) -> None:
    config, summary, _files, output, root = main_run
    again = run(config, spark)
    assert (again.images, again.errors) == (summary.images, summary.errors)
    assert len(_read(output, "features", "main")) == summary.images
    for name in EXPECTED_ERRORS:
        (root / "odd ones" / name).unlink()
    fixed = run(config, spark)
    assert fixed.images == summary.images
    assert len(_read(output, "features", "main")) == summary.images
    assert len(_read(output, "errors", "main")) == summary.errors - len(EXPECTED_ERRORS)


def test_manifest_batch_reuses_latest_pca_and_reports_missing_objects(main_run, spark, tmp_path) -> None:
    config, summary, _files, output, _root = main_run
    images = real_images(6)
    entries = [ManifestEntry(str(p), "kept label") for p in images]
    entries.append(ManifestEntry(str(tmp_path / "gone.jpg")))
    manifest = tmp_path / "batch-0001.jsonl"
    manifest.write_text(dumps_manifest(entries))
    later = RunConfig(manifest=str(manifest), output=config.output, pca_model="latest")
    promote(config.pca_dir, summary.pca_version)  # the batch's own fit is saved, never promoted
    result = run(later, spark)
    assert result.batch_id == "batch-0001"
    assert (result.images, result.errors, result.errors_by_stage) == (6, 1, {"read": 1})
    latest = Path(resolve_model_uri(LATEST, config.pca_dir)).name
    assert not result.pca_fitted and result.pca_version == latest and result.pca_k == summary.pca_k
    rows = _read(output, "features", "batch-0001")
    assert set(rows["label"]) == {"kept label"} and rows["pca"].map(len).eq(summary.pca_k).all()
    assert "file not found" in _read(output, "errors", "batch-0001")["error"][0]
    assert len(_read(output, "features", "main")) == summary.images  # other batches untouched


def test_batches_never_fit_on_small_data(spark, tmp_path) -> None:
    """Two concurrent first batches, `--pca-model latest`, no promoted basis: neither fits, both whole."""
    output = tmp_path / "out"
    configs = []
    for name, images in (("batch-first", real_images(3)), ("batch-second", real_images(5)[3:])):
        manifest = tmp_path / f"{name}.jsonl"
        manifest.write_text(dumps_manifest([ManifestEntry(str(p)) for p in images]))
        configs.append(RunConfig(manifest=str(manifest), output=str(output), pca_model="latest"))
    with ThreadPoolExecutor(max_workers=2) as pool:  # Spark runs both batches' jobs side by side
        summaries = list(pool.map(lambda config: run(config, spark), configs))
    for summary in summaries:
        assert summary.pca_version is None and not summary.pca_fitted
        assert "no promoted PCA basis" in summary.pca_note
        rows = _read(output, "features", summary.batch_id)
        assert len(rows) == summary.images == summary.inputs and rows["pca"].isna().all()
    assert not (output / "pca_models").exists() or not any((output / "pca_models").iterdir())
    # Without --pca-model, a run fits only with enough images (default 1,000) unless told otherwise.
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in real_images(4):
        (folder / path.name).write_bytes(path.read_bytes())
    small = run(RunConfig(input=str(folder), output=str(output), batch_id="folder"), spark)
    assert small.pca_version is None and "fewer than the 1000 needed" in small.pca_note


# ------------------------------------------------------------------------------- classifier


@pytest.fixture(scope="module")
def trained(main_run, tmp_path_factory):
    """A classifier trained on the Training split of the main run's store, scored on its Test split."""
    config = main_run[0]
    classifiers = str(tmp_path_factory.mktemp("classifiers"))
    spark = SparkSession.getActiveSession()
    result = classifier.train(
        spark, config.output, classifiers, train_path="Training", validation_path="Test", min_per_class=3
    )
    return result, classifiers


def test_classifier_reaches_the_quality_bar_on_the_sample(trained) -> None:
    result, classifiers = trained
    metrics = result.metrics
    full_sample = SHARED_SAMPLE.is_dir()
    assert len(metrics["labels"]) == (38 if full_sample else 8)
    assert metrics["validation_images"] == (380 if full_sample else 32)
    assert metrics["top1_accuracy"] >= 0.97 and metrics["top3_accuracy"] >= metrics["top1_accuracy"]
    assert 0.9 <= metrics["macro_f1"] <= 1.0 and metrics["nearest_neighbour_top1_accuracy"] > 0.8
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["validation_images"]
    assert set(metrics["per_class_recall"]) == set(metrics["labels"])
    png = Path(result.uri) / classifier.CONFUSION_PNG
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert complete_versions(classifiers, classifier.METRICS_FILE) == [result.version]


def test_classifier_refuses_classes_with_too_few_images(main_run, spark, tmp_path) -> None:
    config = main_run[0]
    with pytest.raises(
        classifier.ClassifierError, match=r"classes with fewer than 1000 training images: .*Kiwi"
    ):
        classifier.train(
            spark,
            config.output,
            str(tmp_path),
            train_path="Training",
            validation_path="Test",
            min_per_class=1000,
        )


def test_a_batch_with_a_promoted_classifier_answers_every_upload(trained, spark, tmp_path) -> None:
    result, classifiers = trained
    images = real_images(4)
    entries = [ManifestEntry(str(p)) for p in images]  # unlabelled: the normal case in production
    entries += [ManifestEntry(str(tmp_path / "gone.jpg"))]
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(images[0].read_bytes()[:300])
    entries += [ManifestEntry(str(truncated))]
    manifest = tmp_path / "batch-answers.jsonl"
    manifest.write_text(dumps_manifest(entries))
    answers = tmp_path / "answers"
    config = RunConfig(
        manifest=str(manifest),
        output=str(tmp_path / "out"),
        classifier="latest",
        classifier_dir=classifiers,
        answers=str(answers),
    )
    before = run(config, spark)  # nothing promoted yet: rows and answers without a prediction
    assert before.classifier_version is None and before.answers_written == 6
    promote(classifiers, result.version, marker=classifier.METRICS_FILE)

    summary = run(config, spark)

    assert summary.classifier_version == result.version and summary.answers_written == 6
    rows = _read(tmp_path / "out", "features", "batch-answers")
    assert rows["label"].isna().all() and (rows["classifier_version"] == result.version).all()
    truth = {str(p): p.parent.name for p in images}
    assert all(rows["predicted_label"][i] == truth[rows["path"][i]] for i in range(len(rows)))
    assert rows["top3_labels"].map(len).eq(3).all() and (rows["confidence"] >= 0.5).all()
    documents = {p.name: json.loads(p.read_text()) for p in answers.rglob("*.json")}
    assert len(documents) == 6
    assert documents[f"{images[0].name}.json"]["label"] == images[0].parent.name
    assert (
        documents["truncated.jpg.json"]["status"] == "error"
        and documents["gone.jpg.json"]["error_stage"] == "read"
    )
    assert all("exif" not in json.dumps(d).lower() for d in documents.values())

    unsure = run(RunConfig(**{**config.__dict__, "confidence_threshold": 1.0, "batch_id": "unsure"}), spark)
    assert unsure.unknown_predictions == 4
    assert set(_read(tmp_path / "out", "features", "unsure")["predicted_label"]) == {"unknown"}


def test_numpy_prediction_equals_the_pyspark_model(trained, spark, main_run) -> None:
    """The batch's NumPy softmax gives the probabilities of LogisticRegressionModel.transform."""
    import numpy as np
    from pyspark.ml.functions import array_to_vector, vector_to_array

    from spark_app.classifier_math import softmax_probabilities

    result, _ = trained
    loaded = classifier.load_classifier(result.uri)
    sample = (
        spark.read.parquet(f"{main_run[0].output}/features").select("path", "features").limit(20).toPandas()
    )
    rows = spark.createDataFrame(sample, "path string, features array<float>")
    expected = (
        loaded.model.transform(rows.withColumn(classifier.VECTOR, array_to_vector("features")))
        .select("path", vector_to_array("probability").alias("p"))
        .toPandas()
        .set_index("path")
        .loc[sample["path"]]
    )
    fast = classifier.load_classifier_arrays(result.uri)  # what a batch loads: no Spark
    assert fast.model is None and (fast.labels, fast.version) == (loaded.labels, loaded.version)
    weights, intercepts = fast.weights, fast.intercepts
    np.testing.assert_array_equal(weights, loaded.model.coefficientMatrix.toArray())
    np.testing.assert_array_equal(intercepts, loaded.model.interceptVector.toArray())
    ours = softmax_probabilities(np.stack(sample["features"].to_numpy()), weights, intercepts)
    np.testing.assert_allclose(ours, np.stack(expected["p"].to_numpy()), atol=1e-5)
    predicted = classifier.predict(rows, fast, 0.5).toPandas().set_index("path").loc[sample["path"]]
    assert predicted["predicted_label"].tolist() == [loaded.labels[i] for i in ours.argmax(axis=1)]


def test_the_extraction_pass_projects_like_pyspark_pca(spark, tmp_path) -> None:
    """A promoted basis applied in NumPy during extraction = PCAModel.transform after it (two passes);
    and a batch with a promoted basis is one Spark job, its bad files and answers included."""
    folder = tmp_path / "in"
    folder.mkdir()
    for path in real_images(12):
        (folder / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    output = tmp_path / "out"
    fitted = run(
        RunConfig(input=str(folder), output=str(output), batch_id="fit", pca_k=4, pca_fit_any_size=True),
        spark,
    )
    promote(str(output / "pca_models"), fitted.pca_version)
    (folder / "notes.jpg").write_text("not a photo")
    (folder / "cut.jpg").write_bytes(real_images(1)[0].read_bytes()[:200])
    answers = tmp_path / "answers"
    config = RunConfig(
        input=str(folder),
        output=str(output),
        batch_id="reuse",
        pca_model="latest",
        answers=str(answers),
        files_per_partition=3,  # several partitions: the outcomes of each are added once
    )

    reused = run(config, spark)

    assert reused.pca_version == fitted.pca_version and not reused.pca_fitted
    assert (reused.inputs, reused.images, reused.errors) == (14, 12, 2)
    assert reused.errors_by_stage == {"decode": 2} and reused.answers_written == 14
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup(single_pass_job_group("reuse"))
    assert len(jobs) == 1  # read, decode, infer, project and write: one job, no cache, no count
    errors = _read(output, "errors", "reuse")
    assert sorted(Path(p).name for p in errors["path"]) == ["cut.jpg", "notes.jpg"]
    assert set(errors["error_stage"]) == {"decode"} and errors["model_version"].notna().all()
    documents = {p.name: json.loads(p.read_text()) for p in answers.rglob("*.json")}
    assert len(documents) == 14 and documents["cut.jpg.json"]["status"] == "error"
    first_image = sorted(folder.glob("*-*"))[0].name
    assert documents[f"{first_image}.json"]["pca_version"] == fitted.pca_version
    two_pass = _read(output, "features", "fit").set_index("path")["pca"]
    one_pass = _read(output, "features", "reuse").set_index("path")["pca"]
    assert len(one_pass) == 12
    for path in two_pass.index:
        np.testing.assert_allclose(one_pass[path], two_pass[path], rtol=1e-4, atol=1e-4)

    rerun = run(RunConfig(**{**config.__dict__, "answers": None}), spark)  # the same batch again
    assert (rerun.images, rerun.errors) == (12, 2) and len(_read(output, "errors", "reuse")) == 2


def test_a_single_pass_batch_whose_files_all_fail_replaces_its_old_rows(spark, tmp_path) -> None:
    """No basis promoted yet (rows without pca); a re-run of the batch where every file fails leaves
    no stale feature rows and one error row per file."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, path in enumerate(real_images(2)):
        (folder / f"{i}.jpg").write_bytes(path.read_bytes())
    config = RunConfig(input=str(folder), output=str(tmp_path / "out"), batch_id="b", pca_model="latest")
    first = run(config, spark)
    assert (first.images, first.errors, first.pca_version) == (2, 0, None) and first.pca_note
    assert len(_read(tmp_path / "out", "features", "b")) == 2
    for i in range(2):
        (folder / f"{i}.jpg").write_text("not a photo any more")

    again = run(config, spark)

    assert (again.inputs, again.images, again.errors) == (2, 0, 2)
    assert not (tmp_path / "out" / "features" / "batch_id=b").exists()
    errors = _read(tmp_path / "out", "errors", "b")
    assert sorted(Path(p).name for p in errors["path"]) == ["0.jpg", "1.jpg"]
