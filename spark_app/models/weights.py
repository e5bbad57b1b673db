"""The pinned MobileNetV2 weights and the model payload the job broadcasts: read, verify, convert once.

LiteRT with the pinned weights reads the committed, checksummed LiteRT model next to them (no
TensorFlow, no conversion); other weights are converted once per machine in a child process (cached);
``--precision int8`` exists only as the committed int8 model of the pinned weights.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import spark_app
from spark_app.core.model import (
    BACKENDS,
    FP32,
    INT8,
    KERAS,
    LITERT,
    PINNED_LITERT,
    PINNED_WEIGHTS_NAME,
    PINNED_WEIGHTS_SHA256,
    PRECISIONS,
    ModelError,
    ModelPayload,
    model_version,
    pinned_payload,
    sha256_hex,
)
from spark_app.store import objects

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Default weights location: the copy committed in models/ (override with --weights).
DEFAULT_WEIGHTS = str(REPO_ROOT / "models" / PINNED_WEIGHTS_NAME)
#: ``--weights imagenet``: Keras' own download, only where a network exists.
IMAGENET = "imagenet"
#: ``--weights-sha256 skip``: accept any file (its sha256 still goes into model_version).
SKIP_CHECK = "skip"
CACHE_DIR_ENV = "FRUITS_CACHE_DIR"

log = logging.getLogger("fruits")


class WeightsError(ModelError):
    """Weights that cannot be read or do not match their expected checksum."""


class ModelFileMissing(WeightsError):
    """A committed model file that is not where it should be (next to the weights)."""


def expected_sha256(source: str, override: str | None) -> str | None:
    """Checksum to enforce: the override, else the pinned one for the pinned file name.

    Returns None when nothing is to be checked (``skip``, or ``imagenet``).
    """
    if override:
        return None if override.lower() == SKIP_CHECK else override.lower()
    if source == IMAGENET:
        return None
    if is_pinned(source):
        return PINNED_WEIGHTS_SHA256
    raise WeightsError(
        f"no checksum known for {source}: pass --weights-sha256 <hex> (or 'skip' to accept any file)"
    )


def is_pinned(source: str) -> bool:
    """True for the pinned weights file, wherever it is (a path or an s3:// URI)."""
    return os.path.basename(source.rstrip("/")) == PINNED_WEIGHTS_NAME


def beside_weights(weights_source: str, name: str) -> str:
    """Where a committed model file sits: next to the pinned weights (models/ or the deployed prefix)."""
    return weights_source.rstrip("/")[: -len(PINNED_WEIGHTS_NAME)] + name


def load_weights(source: str, expected: str | None) -> tuple[bytes, str]:
    """Read a weights file (local path, file:// or s3://) and verify it; returns (bytes, sha256)."""
    if source == IMAGENET:
        source = _download_imagenet_weights()
    try:
        data = objects.read_bytes(source)
    except objects.StorageError as exc:
        raise WeightsError(f"cannot read weights: {exc}") from None
    actual = sha256_hex(data)
    if expected is not None and actual != expected:
        raise WeightsError(
            f"weights checksum mismatch for {source}: expected sha256 {expected}, got {actual}"
        )
    return data, actual


def prepare_payload(
    weights_source: str,
    expected: str | None,
    backend: str = LITERT,
    num_threads: int = 1,
    *,
    precision: str = FP32,
) -> ModelPayload:
    """Read and verify the model once, and build what executors need for ``backend``."""
    if backend not in BACKENDS:
        raise WeightsError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise WeightsError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    pinned = is_pinned(weights_source) and expected == PINNED_WEIGHTS_SHA256
    if precision == INT8:
        if backend != LITERT:
            raise WeightsError(
                f"--precision {INT8} needs --backend {LITERT} (the int8 model is a LiteRT model)"
            )
        if not pinned:
            raise WeightsError(
                f"--precision {INT8} exists only for the pinned weights ({PINNED_WEIGHTS_SHA256[:12]}): "
                f"use --precision {FP32} with other weights"
            )
        return read_pinned_payload(weights_source, INT8, num_threads)
    if backend == LITERT and pinned:
        try:
            return read_pinned_payload(weights_source, FP32, num_threads)
        except ModelFileMissing as exc:
            log.warning("warning: %s: converting the weights instead (slow, needs TensorFlow)", exc)
    weights, sha = load_weights(weights_source, expected)
    blob = weights if backend == KERAS else litert_flatbuffer(weights, sha)
    return ModelPayload(backend=backend, model_version=model_version(sha), blob=blob, num_threads=num_threads)


def read_pinned_payload(weights_source: str, precision: str, num_threads: int = 1) -> ModelPayload:
    """The committed LiteRT model of ``precision``, read beside the pinned weights and verified."""
    name, _ = PINNED_LITERT[precision]
    uri = beside_weights(weights_source, name)
    try:
        return pinned_payload(objects.read_bytes(uri), precision, num_threads)
    except objects.StorageError as exc:
        raise ModelFileMissing(
            f"cannot read the LiteRT model {uri} ({exc}): deploy {name} next to the weights"
        ) from None
    except ModelError as exc:
        raise WeightsError(str(exc)) from None


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
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory() as tmp:
        weights_path, out_path = Path(tmp) / "w.weights.h5", Path(tmp) / "model.tflite"
        weights_path.write_bytes(weights_h5)
        proc = subprocess.run(
            [sys.executable, "-m", "spark_app.models.convert", str(weights_path), str(out_path)],
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


def _download_imagenet_weights() -> str:
    """Path of Keras' ImageNet MobileNetV2 no-top weights (downloads them; needs a network)."""
    try:
        import keras

        model = keras.applications.MobileNetV2(
            weights=IMAGENET, include_top=False, pooling="avg", input_shape=(224, 224, 3)
        )
    except Exception as exc:
        raise WeightsError(f"cannot download the imagenet weights (no network?): {exc}") from None
    path = Path(keras.config.keras_home() if hasattr(keras.config, "keras_home") else "/tmp") / (
        "fruits_imagenet.weights.h5"
    )
    model.save_weights(path)
    return str(path)
