"""The pinned MobileNetV2 weights: where they are, reading them, checking their sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from spark_app import storage

REPO_ROOT = Path(__file__).resolve().parent.parent
PINNED_WEIGHTS_NAME = "mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5"
PINNED_WEIGHTS_SHA256 = "6714965a05ee6d8568343664bb9cda7456c6eb1fa190a6f5eb39bf087068b100"
#: The pinned weights as a LiteRT model, converted once by ``make litert-model`` (byte-for-byte
#: reproducible with the pinned TensorFlow) and committed next to them: no job converts.
PINNED_LITERT_NAME = "mobilenet_v2_1.0_224_avg_tfslim2018.litert.tflite"
PINNED_LITERT_SHA256 = "cdb859ce04525613628f9b00de2454d1c342d72317c476b25bf0f07b89e2aed3"
#: ``--precision int8``: the same network, full-integer int8 (float32 input and output), calibrated on
#: data/sample/Training by ``make litert-int8-model`` (byte-for-byte reproducible); see docs/int8.md.
PINNED_LITERT_INT8_NAME = "mobilenet_v2_1.0_224_avg_tfslim2018.int8.litert.tflite"
PINNED_LITERT_INT8_SHA256 = "c4b2e8d8c07d9a686d5717e413f2ac2381aa5b1cbcd5d2316ee9fa757bbc8984"
#: Default weights location: the copy committed in models/ (override with --weights).
DEFAULT_WEIGHTS = str(REPO_ROOT / "models" / PINNED_WEIGHTS_NAME)
#: ``--weights imagenet``: Keras' own download, only where a network exists.
IMAGENET = "imagenet"
#: ``--weights-sha256 skip``: accept any file (its sha256 still goes into model_version).
SKIP_CHECK = "skip"


class WeightsError(ValueError):
    """Weights that cannot be read or do not match their expected checksum."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def expected_sha256(source: str, override: str | None) -> str | None:
    """Checksum to enforce: the override, else the pinned one for the pinned file name.

    Returns None when nothing is to be checked (``skip``, or ``imagenet``).
    """
    if override:
        return None if override.lower() == SKIP_CHECK else override.lower()
    if source == IMAGENET:
        return None
    if os.path.basename(source.rstrip("/")) == PINNED_WEIGHTS_NAME:
        return PINNED_WEIGHTS_SHA256
    raise WeightsError(
        f"no checksum known for {source}: pass --weights-sha256 <hex> (or 'skip' to accept any file)"
    )


def is_pinned(source: str) -> bool:
    """True for the pinned weights file, wherever it is (a path or an s3:// URI)."""
    return os.path.basename(source.rstrip("/")) == PINNED_WEIGHTS_NAME


def pinned_litert_uri(weights_source: str, name: str = PINNED_LITERT_NAME) -> str:
    """Where a pinned LiteRT model (``name``) sits: next to the pinned weights (models/ or the prefix)."""
    return weights_source.rstrip("/")[: -len(PINNED_WEIGHTS_NAME)] + name


def load_weights(source: str, expected: str | None) -> tuple[bytes, str]:
    """Read a weights file (local path, file:// or s3://) and verify it; returns (bytes, sha256)."""
    if source == IMAGENET:
        source = _download_imagenet_weights()
    try:
        data = storage.read_bytes(source)
    except storage.StorageError as exc:
        raise WeightsError(f"cannot read weights: {exc}") from None
    actual = sha256_hex(data)
    if expected is not None and actual != expected:
        raise WeightsError(
            f"weights checksum mismatch for {source}: expected sha256 {expected}, got {actual}"
        )
    return data, actual


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
