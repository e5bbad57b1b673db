"""spark_app against an S3 endpoint (moto server): the same code path as on EMR Serverless."""

from __future__ import annotations

import pandas as pd
import pytest

from spark_app.core.manifest import ManifestEntry, dumps_manifest
from spark_app.job.config import RunConfig
from spark_app.job.run import run
from spark_app.models.pca import fit_over_store
from spark_app.models.registry import promote
from spark_app.store import objects as storage
from tests.helpers.images import real_images, truncated_jpeg

pytestmark = pytest.mark.spark


def _download(client, bucket: str, prefix: str, tmp_path) -> pd.DataFrame:
    local = tmp_path / prefix.replace("/", "_")
    storage.download_prefix(f"s3://{bucket}/{prefix}", str(local))
    return pd.read_parquet(local)


def test_manifest_of_s3_objects_to_s3_results_and_rerun_replaces(s3_endpoint, spark, tmp_path) -> None:
    client = s3_endpoint
    entries = []
    for path in real_images(5):
        key = f"uploads/{path.parent.name}/{path.name}"
        client.put_object(Bucket="ingest", Key=key, Body=path.read_bytes())
        entries.append(ManifestEntry(f"s3://ingest/{key}", path.parent.name))
    client.put_object(Bucket="ingest", Key="uploads/bad.jpg", Body=truncated_jpeg())
    entries += [ManifestEntry("s3://ingest/uploads/bad.jpg"), ManifestEntry("s3://ingest/uploads/gone.jpg")]
    client.put_object(Bucket="results", Key="manifests/batch-s3.jsonl", Body=dumps_manifest(entries).encode())
    config = RunConfig(manifest="s3://results/manifests/batch-s3.jsonl", output="s3://results/store")
    for _ in range(2):  # the second run replaces the batch
        summary = run(config, spark)
        assert (summary.images, summary.errors) == (5, 2) and summary.pca_version is None
    rows = _download(client, "results", "store/features/batch_id=batch-s3/", tmp_path)
    errors = _download(client, "results", "store/errors/batch_id=batch-s3/", tmp_path)
    assert sorted(rows["path"]) == sorted(e.uri for e in entries[:5])
    assert rows["pca"].isna().all() and rows["features"].map(len).eq(1280).all()
    assert dict(zip(errors["path"], errors["error_stage"], strict=True)) == {
        "s3://ingest/uploads/bad.jpg": "decode",
        "s3://ingest/uploads/gone.jpg": "read",
    }
    assert "object not found" in errors.set_index("path").loc["s3://ingest/uploads/gone.jpg", "error"]
    # The lifecycle over S3: fit over the store, promote; a later batch projects on it.
    fitted = fit_over_store(spark, "s3://results/store", "s3://results/pca", k=1, min_images=4)
    promote("s3://results/pca", fitted.basis.version)
    later = run(
        RunConfig(
            manifest="s3://results/manifests/batch-s3.jsonl",
            output="s3://results/store",
            batch_id="again",
            pca_model_dir="s3://results/pca",
        ),
        spark,
    )
    assert later.pca_version == fitted.basis.version and later.pca_k == 1
    again = _download(client, "results", "store/features/batch_id=again/", tmp_path)
    assert again["pca"].map(len).eq(1).all()
