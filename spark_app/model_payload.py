"""Driver side: turn the verified weights into the payload that is broadcast to executors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import spark_app
from spark_app import storage
from spark_app.backends import BACKENDS, KERAS, LITERT, ModelPayload
from spark_app.weights import (
    PINNED_LITERT_INT8_NAME,
    PINNED_LITERT_INT8_SHA256,
    PINNED_LITERT_NAME,
    PINNED_LITERT_SHA256,
    PINNED_WEIGHTS_SHA256,
    WeightsError,
    is_pinned,
    load_weights,
    pinned_litert_uri,
    sha256_hex,
)

MODEL_NAME = "mobilenet_v2_1.0_224_avg"
#: Model precisions (``--precision``): fp32 is the default; int8 is opt-in (docs/int8.md).
FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)
CACHE_DIR_ENV = "FRUITS_CACHE_DIR"

log = logging.getLogger("fruits")


def model_version(weights_sha256: str, precision: str = FP32) -> str:
    """Version string written in every output row, e.g. ``mobilenet_v2_1.0_224_avg@6714965a05ee``
    (``…-int8`` for the int8 model, so that features of the two precisions never mix)."""
    suffix = "" if precision == FP32 else f"-{precision}"
    return f"{MODEL_NAME}@{weights_sha256[:12]}{suffix}"


def prepare_payload(
    weights_source: str,
    expected_sha256: str | None,
    backend: str,
    num_threads: int = 1,
    *,
    precision: str = FP32,
) -> ModelPayload:
    """Read and verify the model once, and build what executors need for ``backend``.

    LiteRT with the pinned weights reads the committed, checksummed LiteRT model next to them
    (no TensorFlow, no conversion); other weights are converted once per machine (cached).
    ``precision=INT8`` exists only as the committed int8 LiteRT model of the pinned weights.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == INT8:
        return int8_payload(weights_source, expected_sha256, backend, num_threads)
    if backend == LITERT and is_pinned(weights_source) and expected_sha256 == PINNED_WEIGHTS_SHA256:
        blob = pinned_litert(weights_source)
        if blob is not None:
            return ModelPayload(LITERT, model_version(PINNED_WEIGHTS_SHA256), blob, num_threads)
    weights, sha = load_weights(weights_source, expected_sha256)
    blob = weights if backend == KERAS else litert_flatbuffer(weights, sha)
    return ModelPayload(backend=backend, model_version=model_version(sha), blob=blob, num_threads=num_threads)


def int8_payload(
    weights_source: str, expected_sha256: str | None, backend: str, num_threads: int = 1
) -> ModelPayload:
    """The committed int8 LiteRT model of the pinned weights (read beside them, verified).

    Raises :class:`WeightsError` for the Keras backend, other weights or a missing model: the int8
    model is calibrated and committed once (``make litert-int8-model``), never converted by a job.
    """
    if backend != LITERT:
        raise WeightsError(f"--precision {INT8} needs --backend {LITERT} (the int8 model is a LiteRT model)")
    if not is_pinned(weights_source) or expected_sha256 != PINNED_WEIGHTS_SHA256:
        raise WeightsError(
            f"--precision {INT8} exists only for the pinned weights ({PINNED_WEIGHTS_SHA256[:12]}): "
            f"use --precision {FP32} with other weights"
        )
    try:
        blob = read_pinned_model(weights_source, PINNED_LITERT_INT8_NAME, PINNED_LITERT_INT8_SHA256)
    except storage.StorageError as exc:
        raise WeightsError(
            f"cannot read the int8 LiteRT model ({exc}): deploy {PINNED_LITERT_INT8_NAME} next to the weights"
        ) from None
    return ModelPayload(LITERT, model_version(PINNED_WEIGHTS_SHA256, INT8), blob, num_threads)


def read_pinned_model(weights_source: str, name: str, sha256: str) -> bytes:
    """A committed model file beside the pinned weights, checksum-verified (``WeightsError`` if not)."""
    uri = pinned_litert_uri(weights_source, name)
    blob = storage.read_bytes(uri)
    actual = sha256_hex(blob)
    if actual != sha256:
        raise WeightsError(f"LiteRT model checksum mismatch for {uri}: expected {sha256}, got {actual}")
    return blob


def pinned_litert(weights_source: str) -> bytes | None:
    """The committed LiteRT model of the pinned weights, verified; None (with a warning) when absent."""
    try:
        return read_pinned_model(weights_source, PINNED_LITERT_NAME, PINNED_LITERT_SHA256)
    except storage.StorageError as exc:
        log.warning(
            "warning: cannot read the LiteRT model of the pinned weights (%s): converting the weights "
            "instead (slow, needs TensorFlow); deploy %s next to the weights to skip this",
            exc,
            PINNED_LITERT_NAME,
        )
        return None


def _cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fruits-features"
    return Path(os.environ.get(CACHE_DIR_ENV, default))


def litert_flatbuffer(weights_h5: bytes, weights_sha256: str) -> bytes:
    """LiteRT model of the weights, converted in a child process and cached by checksum.

    The conversion needs TensorFlow, which must stay out of processes that run LiteRT;
    a child process also keeps TensorFlow's memory out of the driver.
    """
    cached = _cache_dir() / f"{LITERT}-{weights_sha256[:16]}-v{spark_app.__version__}.tflite"
    if cached.is_file() and cached.stat().st_size > 0:
        log.info("LiteRT model of weights %s from the cache (%s)", weights_sha256[:12], cached)
        return cached.read_bytes()
    log.info(
        "converting weights %s to LiteRT in a child process (TensorFlow: ~15 s, ~1 GB; cached in %s)",
        weights_sha256[:12],
        cached.parent,
    )
    package_parent = str(Path(spark_app.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory() as tmp:
        weights_path, out_path = Path(tmp) / "w.weights.h5", Path(tmp) / "model.tflite"
        weights_path.write_bytes(weights_h5)
        proc = subprocess.run(
            [sys.executable, "-m", "spark_app.keras_model", str(weights_path), str(out_path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out_path.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise WeightsError(f"converting the weights to LiteRT failed:\n{tail}")
        flatbuffer = out_path.read_bytes()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp_file.write_bytes(flatbuffer)
        tmp_file.replace(cached)
    except OSError:
        pass  # a read-only home only costs a conversion next time
    return flatbuffer
