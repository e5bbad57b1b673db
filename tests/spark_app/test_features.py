"""extract_frame without Spark: one output row per input, in order, errors with reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spark_app.features import ExtractSettings, extract_frame
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
    out = extract_frame(frame, extractor, ExtractSettings(read_threads=read_threads))
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
