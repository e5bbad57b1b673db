"""The feature extractor: the pinned MobileNetV2, its versions, and the extractors built from its bytes.

The model travels as a :class:`ModelPayload` (a LiteRT flatbuffer, or the Keras ``.weights.h5`` bytes):
the Spark driver broadcasts it, a Lambda reads it from its package. Each process builds its extractor
once and keeps it (:func:`get_extractor`). Nothing here reads files or talks to AWS.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from spark_app.core.defaults import FEATURE_DIM, INPUT_SIZE

MODEL_NAME = "mobilenet_v2_1.0_224_avg"
LITERT, KERAS = "litert", "keras"
BACKENDS = (LITERT, KERAS)
#: Model precisions (``--precision``): fp32 is the default; int8 is opt-in (docs/int8.md).
FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)

#: The pinned weights (models/), and the LiteRT models converted from them once (``make litert-model``,
#: byte-for-byte reproducible with the pinned TensorFlow) and committed next to them: no job converts.
PINNED_WEIGHTS_NAME = "mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5"
PINNED_WEIGHTS_SHA256 = "6714965a05ee6d8568343664bb9cda7456c6eb1fa190a6f5eb39bf087068b100"
PINNED_LITERT_NAME = "mobilenet_v2_1.0_224_avg_tfslim2018.litert.tflite"
PINNED_LITERT_SHA256 = "cdb859ce04525613628f9b00de2454d1c342d72317c476b25bf0f07b89e2aed3"
#: ``--precision int8``: the same network, full-integer int8 (float32 input and output), calibrated on
#: data/sample/Training by ``make litert-int8-model`` (byte-for-byte reproducible); see docs/int8.md.
PINNED_LITERT_INT8_NAME = "mobilenet_v2_1.0_224_avg_tfslim2018.int8.litert.tflite"
PINNED_LITERT_INT8_SHA256 = "c4b2e8d8c07d9a686d5717e413f2ac2381aa5b1cbcd5d2316ee9fa757bbc8984"
#: The pinned LiteRT model of each precision: (file name, sha256).
PINNED_LITERT = {
    FP32: (PINNED_LITERT_NAME, PINNED_LITERT_SHA256),
    INT8: (PINNED_LITERT_INT8_NAME, PINNED_LITERT_INT8_SHA256),
}


class ModelError(ValueError):
    """A model that cannot be used: wrong checksum, unknown backend or precision (the message says why)."""


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def verified(blob: bytes, expected_sha256: str, name: str) -> bytes:
    """``blob`` when its sha256 is the expected one; :class:`ModelError` naming ``name`` otherwise."""
    actual = sha256_hex(blob)
    if actual != expected_sha256:
        raise ModelError(f"checksum mismatch for {name}: expected sha256 {expected_sha256}, got {actual}")
    return blob


def model_version(weights_sha256: str, precision: str = FP32) -> str:
    """Version string of every feature, e.g. ``mobilenet_v2_1.0_224_avg@6714965a05ee`` (``…-int8`` for the
    int8 model, so that features of the two precisions never mix)."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    suffix = "" if precision == FP32 else f"-{precision}"
    return f"{MODEL_NAME}@{weights_sha256[:12]}{suffix}"


@dataclass(frozen=True)
class ModelPayload:
    """Everything a process needs to build the extractor."""

    backend: str
    model_version: str
    blob: bytes  # LiteRT flatbuffer (litert) or .weights.h5 bytes (keras)
    num_threads: int = 1


def pinned_payload(flatbuffer: bytes, precision: str = FP32, num_threads: int = 1) -> ModelPayload:
    """The payload of a pinned LiteRT model's bytes, verified against its committed checksum."""
    if precision not in PINNED_LITERT:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    name, sha = PINNED_LITERT[precision]
    blob = verified(flatbuffer, sha, name)
    return ModelPayload(LITERT, model_version(PINNED_WEIGHTS_SHA256, precision), blob, num_threads)


class FeatureExtractor(Protocol):
    """(n, 224, 224, 3) float32 in [-1, 1] -> (n, 1280) float32."""

    def extract(self, batch: np.ndarray) -> np.ndarray: ...


class LiteRTExtractor:
    """LiteRT interpreter (XNNPACK delegate on CPU), one image per invoke."""

    def __init__(self, flatbuffer: bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._flatbuffer = flatbuffer  # the interpreter reads from this buffer: keep it alive
        self._interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._interpreter.resize_tensor_input(self._input, [1, INPUT_SIZE, INPUT_SIZE, 3])
        self._interpreter.allocate_tensors()

    def extract(self, batch: np.ndarray) -> np.ndarray:
        out = np.empty((len(batch), FEATURE_DIM), dtype=np.float32)
        for i in range(len(batch)):
            self._interpreter.set_tensor(self._input, batch[i : i + 1])
            self._interpreter.invoke()
            out[i] = self._interpreter.get_tensor(self._output)[0]
        return out


def build_keras_model(weights_h5: bytes) -> Any:
    """MobileNetV2 (alpha 1.0, no top, global average pooling) with the given weights (imports Keras)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    model = keras.applications.MobileNetV2(
        weights=None, include_top=False, pooling="avg", input_shape=(INPUT_SIZE, INPUT_SIZE, 3)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.weights.h5")
        with open(path, "wb") as fh:
            fh.write(weights_h5)
        model.load_weights(path)
    return model


class KerasExtractor:
    """Keras MobileNetV2 built from the ``.weights.h5`` bytes."""

    def __init__(self, weights_h5: bytes, num_threads: int = 1) -> None:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised in this process
            pass
        self._model = build_keras_model(weights_h5)

    def extract(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.empty((0, FEATURE_DIM), dtype=np.float32)
        return np.asarray(self._model(batch, training=False), dtype=np.float32)


_BUILDERS: dict[str, Callable[[bytes, int], FeatureExtractor]] = {
    LITERT: LiteRTExtractor,
    KERAS: KerasExtractor,
}
#: Native module each backend cannot share a process with (duplicate pybind11 registrations).
_CLASHES = {LITERT: "tensorflow", KERAS: "ai_edge_litert"}


def build_extractor(payload: ModelPayload) -> FeatureExtractor:
    """Build the extractor a payload describes."""
    if payload.backend not in _BUILDERS:
        raise ModelError(f"unknown backend {payload.backend!r}; choose one of {', '.join(BACKENDS)}")
    if _CLASHES[payload.backend] in sys.modules:
        raise ModelError(
            f"this Python process already loaded {_CLASHES[payload.backend]}, which cannot share a process "
            f"with the {payload.backend} backend: use one backend per process"
        )
    return _BUILDERS[payload.backend](payload.blob, payload.num_threads)


_cache_lock = threading.Lock()
_extractors: dict[Any, FeatureExtractor] = {}


def get_extractor(key: Any, load_payload: Callable[[], ModelPayload]) -> tuple[FeatureExtractor, bool]:
    """This process's extractor for ``key`` (e.g. backend and model version), built on first use.

    Returns ``(extractor, built_now)``; ``load_payload`` is called only when building.
    """
    with _cache_lock:
        if key in _extractors:
            return _extractors[key], False
        extractor = build_extractor(load_payload())
        _extractors[key] = extractor
        return extractor, True
