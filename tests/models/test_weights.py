"""Weights loading and checksum; LiteRT and Keras backends agree on real images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spark_app.core.model import (
    LITERT,
    PINNED_LITERT_NAME,
    PINNED_LITERT_SHA256,
    PINNED_WEIGHTS_NAME,
    PINNED_WEIGHTS_SHA256,
    ModelError,
    model_version,
    sha256_hex,
)
from spark_app.models import weights as model_payload
from spark_app.models.weights import (
    DEFAULT_WEIGHTS,
    WeightsError,
    beside_weights,
    expected_sha256,
    load_weights,
)
from tests.helpers.images import REPO, bad_and_unusual_inputs, real_images


def test_pinned_checksum_matches_the_committed_sha256_file() -> None:
    recorded = (REPO / "models" / f"{PINNED_WEIGHTS_NAME}.sha256").read_text().split()[0]
    assert recorded == PINNED_WEIGHTS_SHA256
    data, actual = load_weights(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256)
    assert actual == PINNED_WEIGHTS_SHA256 == sha256_hex(data)
    assert len(data) == Path(DEFAULT_WEIGHTS).stat().st_size


def test_the_committed_litert_model_is_pinned() -> None:
    recorded = (REPO / "models" / f"{PINNED_LITERT_NAME}.sha256").read_text().split()
    assert recorded == [PINNED_LITERT_SHA256, PINNED_LITERT_NAME]
    assert sha256_hex((REPO / "models" / PINNED_LITERT_NAME).read_bytes()) == PINNED_LITERT_SHA256
    uri = beside_weights("s3://artifacts/models/" + PINNED_WEIGHTS_NAME, PINNED_LITERT_NAME)
    assert uri == "s3://artifacts/models/" + PINNED_LITERT_NAME


def _no_conversion(*_args: object) -> bytes:
    raise AssertionError("the default path must not convert (nor import TensorFlow)")


def test_the_pinned_weights_never_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_payload, "litert_flatbuffer", _no_conversion)
    payload = model_payload.prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT)
    assert payload.blob == (REPO / "models" / PINNED_LITERT_NAME).read_bytes()
    assert payload.model_version == model_version(PINNED_WEIGHTS_SHA256)  # unchanged in every row


def test_the_default_path_never_imports_tensorflow() -> None:
    code = (
        "import sys\n"
        "from spark_app.core.model import LITERT, PINNED_WEIGHTS_SHA256, build_extractor\n"
        "from spark_app.models.weights import DEFAULT_WEIGHTS, prepare_payload\n"
        "build_extractor(prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, LITERT))\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'h5py') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_the_pinned_litert_model_is_read_beside_weights_on_s3(
    s3_endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_payload, "litert_flatbuffer", _no_conversion)
    committed = (REPO / "models" / PINNED_LITERT_NAME).read_bytes()
    # Only the LiteRT model is needed: the job does not even read the weights object.
    s3_endpoint.put_object(Bucket="results", Key=f"models/{PINNED_LITERT_NAME}", Body=committed)
    uri = f"s3://results/models/{PINNED_WEIGHTS_NAME}"
    payload = model_payload.prepare_payload(uri, PINNED_WEIGHTS_SHA256, LITERT)
    assert payload.blob == committed and payload.model_version == model_version(PINNED_WEIGHTS_SHA256)
    s3_endpoint.put_object(Bucket="results", Key=f"models/{PINNED_LITERT_NAME}", Body=committed[:-1])
    with pytest.raises(WeightsError, match=f"checksum mismatch for {PINNED_LITERT_NAME}"):
        model_payload.prepare_payload(uri, PINNED_WEIGHTS_SHA256, LITERT)


def test_other_weights_are_converted_once_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(model_payload.CACHE_DIR_ENV, str(tmp_path / "cache"))
    runs: list[list[str]] = []

    def fake_conversion(cmd: list[str], **_kwargs: object) -> subprocess.CompletedProcess:
        runs.append(cmd)
        Path(cmd[-1]).write_bytes(b"converted")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(model_payload.subprocess, "run", fake_conversion)
    other = tmp_path / "other.weights.h5"
    other.write_bytes(b"other weights")
    sha = sha256_hex(b"other weights")
    caplog.set_level("INFO", logger="fruits")
    for _ in range(2):
        payload = model_payload.prepare_payload(str(other), sha, LITERT)
        assert payload.blob == b"converted" and payload.model_version == model_version(sha)
    assert len(runs) == 1 and runs[0][1:3] == ["-m", "spark_app.models.convert"]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"converting weights {sha[:12]} to LiteRT") for m in messages), messages
    assert any("from the cache" in m for m in messages), messages


def test_a_missing_or_altered_litert_model_is_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    weights = tmp_path / PINNED_WEIGHTS_NAME
    weights.write_bytes(Path(DEFAULT_WEIGHTS).read_bytes())
    converted: list[str] = []
    monkeypatch.setattr(model_payload, "litert_flatbuffer", lambda _w, sha: converted.append(sha) or b"fresh")
    # Absent (an older deployment): converted as before, with a warning.
    assert model_payload.prepare_payload(str(weights), PINNED_WEIGHTS_SHA256, LITERT).blob == b"fresh"
    assert converted == [PINNED_WEIGHTS_SHA256]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "cannot read the LiteRT model" in caplog.text and "converting the weights" in caplog.text
    # Present but altered: refused.
    (tmp_path / PINNED_LITERT_NAME).write_bytes(b"not the model")
    with pytest.raises(WeightsError, match=f"checksum mismatch for {PINNED_LITERT_NAME}"):
        model_payload.prepare_payload(str(weights), PINNED_WEIGHTS_SHA256, LITERT)


@pytest.mark.slow
def test_the_committed_litert_model_matches_a_fresh_conversion(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(model_payload.CACHE_DIR_ENV, str(tmp_path / "cache"))  # really convert
    images = [str(p) for p in real_images()[::6]]
    committed = _features("litert", images, tmp_path / "committed.npy")
    fresh = _features("litert-converted", images, tmp_path / "fresh.npy")
    cosine = (committed * fresh).sum(1) / np.linalg.norm(committed, axis=1) / np.linalg.norm(fresh, axis=1)
    assert cosine.min() >= 0.99999, cosine.min()


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    tampered = tmp_path / PINNED_WEIGHTS_NAME
    data = bytearray(Path(DEFAULT_WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_weights(str(tampered), expected_sha256(str(tampered), None))


def test_expected_checksum_rules() -> None:
    assert expected_sha256("s3://bucket/models/" + PINNED_WEIGHTS_NAME, None) == PINNED_WEIGHTS_SHA256
    assert expected_sha256("/x/other.weights.h5", "ABC") == "abc"
    assert expected_sha256("/x/other.weights.h5", "skip") is None
    with pytest.raises(WeightsError, match="--weights-sha256"):
        expected_sha256("/x/other.weights.h5", None)


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="file not found"):
        load_weights(str(tmp_path / "nope.weights.h5"), None)


def test_model_version_names_the_weights() -> None:
    assert model_version(PINNED_WEIGHTS_SHA256) == "mobilenet_v2_1.0_224_avg@6714965a05ee"


def _features(backend: str, images: list[str], out: Path) -> np.ndarray:
    subprocess.run(
        [sys.executable, "-m", "tests.helpers.extract_features", backend, str(out), *images],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return np.load(out)


@pytest.mark.slow
def test_litert_and_keras_backends_give_the_same_features(tmp_path: Path) -> None:
    unusual = bad_and_unusual_inputs()
    images = [str(p) for p in real_images()[::4]]
    for name in ("cmyk.jpg", "alpha.png", "rotated-exif.jpg"):
        (tmp_path / name).write_bytes(unusual[name][0])
        images.append(str(tmp_path / name))
    litert = _features("litert", images, tmp_path / "litert.npy")
    keras = _features("keras", images, tmp_path / "keras.npy")
    assert litert.shape == keras.shape == (len(images), 1280)
    cosine = (litert * keras).sum(1) / np.linalg.norm(litert, axis=1) / np.linalg.norm(keras, axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    assert np.all(litert >= 0)  # ReLU6 + average pooling: non-negative features


def test_backends_refuse_a_process_that_loaded_the_other_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from spark_app.core.model import KERAS, LITERT, ModelPayload, build_extractor

    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    with pytest.raises(ModelError, match="already loaded tensorflow"):
        build_extractor(ModelPayload(LITERT, "m@1", b""))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", types.ModuleType("ai_edge_litert"))
    with pytest.raises(ModelError, match="already loaded ai_edge_litert"):
        build_extractor(ModelPayload(KERAS, "m@1", b""))
