"""The per-image work without Spark: one output row per input, in order, errors with reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spark_app.core.extract import STAGE_FORMAT, Rejected, extract_contents, rejected_by_name
from spark_app.job.extract import ExtractSettings, extract_batch
from tests.helpers.images import bad_and_unusual_inputs, real_images, write_inputs


class MeanColourExtractor:
    """Stands in for the CNN: a 1280-vector from each image's mean colour."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def extract(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        return np.repeat(batch.mean(axis=(1, 2)), 1280 // 3 + 1, axis=1)[:, :1280].astype(np.float32)


@pytest.mark.parametrize("read_threads", [1, 8])
def test_every_row_in_order_with_features_or_error(tmp_path: Path, read_threads: int) -> None:
    cases = bad_and_unusual_inputs()
    write_inputs(tmp_path, cases)
    paths = (
        [str(p) for p in real_images(5)] + [str(tmp_path / n) for n in cases] + [str(tmp_path / "gone.jpg")]
    )
    frame = pd.DataFrame({"path": paths, "label": ["x"] * len(paths)})
    extractor = MeanColourExtractor()
    out = extract_batch(frame, extractor, ExtractSettings(read_threads=read_threads))
    assert list(out["path"]) == paths and list(out["label"]) == ["x"] * len(paths)
    failed = out[out["error"].notna()]
    expected = {str(tmp_path / n): stage for n, (_, stage) in cases.items() if stage}
    expected[str(tmp_path / "gone.jpg")] = "read"
    assert dict(zip(failed["path"], failed["error_stage"], strict=True)) == expected
    good = out[out["error"].isna()]
    assert len(good) == len(paths) - len(expected) and extractor.calls == [len(good)]
    assert good["features"].map(len).eq(1280).all() and good["image_id"].str.len().eq(64).all()
    assert failed["features"].isna().all() and failed["image_id"].isna().all()
    assert (good["processing_ms"] > 0).all()


def test_one_photo_gets_the_same_result_as_in_a_batch() -> None:
    """The answer Lambda extracts one photo with the same function the workers use for a batch."""
    photos = [p.read_bytes() for p in real_images(3)]
    alone = extract_contents([photos[1]], MeanColourExtractor())[0]
    together = extract_contents(photos, MeanColourExtractor())[1]
    assert alone.ok and alone.image_id == together.image_id
    np.testing.assert_array_equal(alone.features, together.features)


def test_a_refused_name_and_a_corrupt_photo_become_reasons_not_exceptions() -> None:
    refused = rejected_by_name("s3://b/uploads/notes.txt")
    assert refused == Rejected(STAGE_FORMAT, refused.reason) and ".txt" in refused.reason
    assert rejected_by_name("s3://b/uploads/a.JPEG") is None
    out = extract_contents([refused, b"not an image"], MeanColourExtractor())
    assert [(r.error_stage, r.ok) for r in out] == [("format", False), ("decode", False)]
    assert "not a supported image" in out[1].error
