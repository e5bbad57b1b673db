"""``--precision int8``: the committed int8 LiteRT model, its selection, its features, the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spark_app.core.model import (
    FP32,
    INT8,
    KERAS,
    LITERT,
    PINNED_LITERT_INT8_NAME,
    PINNED_LITERT_INT8_SHA256,
    PINNED_WEIGHTS_NAME,
    PINNED_WEIGHTS_SHA256,
    model_version,
    sha256_hex,
)
from spark_app.models import weights as model_payload
from spark_app.models.weights import DEFAULT_WEIGHTS, WeightsError, prepare_payload
from tests.helpers.images import BUNDLED_SAMPLE, REPO

MODELS = REPO / "models"
#: Per-image cosine of int8 to fp32 features. Measured: 0.961, 0.973, 0.965, 0.985 on the four photos below;
#: mean 0.955, 5th percentile 0.920, min 0.847 on the 1,900-image sample (bench/results/2026-12-02-int8.md).
#: A broken model (wrong scales, calibration on the wrong preprocessing) falls far below.
MIN_COSINE, MIN_MEAN_COSINE = 0.93, 0.95


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spark_app", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def _no_conversion(*_args: object) -> bytes:
    raise AssertionError("int8 must use the committed model, never convert")


def test_the_committed_int8_model_is_pinned() -> None:
    recorded = (MODELS / f"{PINNED_LITERT_INT8_NAME}.sha256").read_text().split()
    assert recorded == [PINNED_LITERT_INT8_SHA256, PINNED_LITERT_INT8_NAME]
    assert sha256_hex((MODELS / PINNED_LITERT_INT8_NAME).read_bytes()) == PINNED_LITERT_INT8_SHA256


def test_int8_payload_is_the_committed_model_with_its_own_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_payload, "litert_flatbuffer", _no_conversion)
    int8 = prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT, precision=INT8)
    fp32 = prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT, precision=FP32)
    assert int8.blob == (MODELS / PINNED_LITERT_INT8_NAME).read_bytes() != fp32.blob
    assert int8.model_version == model_version(PINNED_WEIGHTS_SHA256, INT8) == f"{fp32.model_version}-int8"


def _weights_elsewhere(folder: Path, name: str = PINNED_WEIGHTS_NAME) -> str:
    folder.mkdir()
    shutil.copyfile(DEFAULT_WEIGHTS, folder / name)
    return str(folder / name)


def test_int8_refuses_keras_other_weights_missing_or_altered_model(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="needs --backend litert"):
        prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, KERAS, precision=INT8)
    other = _weights_elsewhere(tmp_path / "other", "mine.weights.h5")
    with pytest.raises(WeightsError, match="only for the pinned weights"):
        prepare_payload(other, PINNED_WEIGHTS_SHA256, LITERT, precision=INT8)
    with pytest.raises(WeightsError, match="only for the pinned weights"):
        prepare_payload(DEFAULT_WEIGHTS, None, LITERT, precision=INT8)  # --weights-sha256 skip
    alone = _weights_elsewhere(tmp_path / "alone")
    with pytest.raises(WeightsError, match=f"deploy {PINNED_LITERT_INT8_NAME}"):
        prepare_payload(alone, PINNED_WEIGHTS_SHA256, LITERT, precision=INT8)
    (tmp_path / "alone" / PINNED_LITERT_INT8_NAME).write_bytes(b"not the model")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        prepare_payload(alone, PINNED_WEIGHTS_SHA256, LITERT, precision=INT8)
    with pytest.raises(ValueError, match="unknown precision"):
        prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT, precision="int4")


def test_int8_with_keras_exits_2_with_one_line_before_spark(tmp_path: Path) -> None:
    proc = _cli(
        "--input", str(BUNDLED_SAMPLE / "Test" / "Kiwi"), "--output", str(tmp_path / "out"),
        "--backend", "keras", "--precision", "int8",
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "spark_app: error: --precision int8 needs --backend litert (the int8 model is a LiteRT model)"
    )


_FEATURES = """
import json, sys
import numpy as np
from pathlib import Path
from spark_app.core.decode import decode_image, preprocess
from spark_app.core.model import LITERT, PINNED_WEIGHTS_SHA256, PRECISIONS, build_extractor
from spark_app.models.weights import DEFAULT_WEIGHTS, prepare_payload
batch = np.stack([preprocess(decode_image(Path(p).read_bytes()).pixels) for p in sys.argv[1:]])
out = {p: build_extractor(prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT, precision=p))
       .extract(batch).tolist() for p in PRECISIONS}
print(json.dumps(out))
"""


def test_int8_features_stay_close_to_fp32_on_real_photos() -> None:
    """LiteRTExtractor runs the int8 model unchanged (float32 in and out); in a child process, as
    LiteRT must not share a process with TensorFlow (which other tests load)."""
    images = [
        sorted((BUNDLED_SAMPLE / "Test" / c).glob("*.jpg"))[0]
        for c in ("Kiwi", "Lemon", "Pear", "Banana Red")
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _FEATURES, *map(str, images)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    features = {k: np.asarray(v, dtype=np.float32) for k, v in json.loads(proc.stdout).items()}
    fp32, int8 = features[FP32], features[INT8]
    assert fp32.shape == int8.shape == (len(images), 1280) and np.isfinite(int8).all()
    cosine = np.sum(fp32 * int8, axis=1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(int8, axis=1))
    assert cosine.min() >= MIN_COSINE and cosine.mean() >= MIN_MEAN_COSINE, cosine
    assert not np.array_equal(fp32, int8)  # it is the int8 model, not the fp32 one again


@pytest.mark.spark
@pytest.mark.slow
def test_precision_int8_runs_end_to_end(tmp_path: Path) -> None:
    source = tmp_path / "in" / "Kiwi"
    source.mkdir(parents=True)
    for image in sorted((BUNDLED_SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[:3]:
        shutil.copyfile(image, source / image.name)
    proc = _cli(
        "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--precision", "int8",
        "--batch-id", "int8", "--master", "local[1]",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "images         3" in proc.stdout and "-int8" in proc.stdout
    import pandas as pd

    rows = pd.read_parquet(tmp_path / "out" / "features" / "batch_id=int8")
    assert set(rows["model_version"]) == {model_version(PINNED_WEIGHTS_SHA256, INT8)}
    assert rows["features"].map(len).eq(1280).all()
