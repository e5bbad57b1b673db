"""Feature extractors that executors build from the broadcast model payload.

The driver broadcasts a :class:`ModelPayload` (the weights, as a LiteRT flatbuffer or as
the Keras ``.weights.h5`` bytes). Each Python worker builds its extractor from the
broadcast value once and keeps it for every later task and batch (see :func:`get_extractor`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

LITERT = "litert"
KERAS = "keras"
BACKENDS = (LITERT, KERAS)
FEATURE_DIM = 1280


@dataclass(frozen=True)
class ModelPayload:
    """What the driver broadcasts: everything an executor needs to build the model."""

    backend: str
    model_version: str
    blob: bytes  # LiteRT flatbuffer (litert) or .weights.h5 bytes (keras)
    num_threads: int = 1


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
        self._interpreter.resize_tensor_input(self._input, [1, 224, 224, 3])
        self._interpreter.allocate_tensors()

    def extract(self, batch: np.ndarray) -> np.ndarray:
        out = np.empty((len(batch), FEATURE_DIM), dtype=np.float32)
        for i in range(len(batch)):
            self._interpreter.set_tensor(self._input, batch[i : i + 1])
            self._interpreter.invoke()
            out[i] = self._interpreter.get_tensor(self._output)[0]
        return out


class KerasExtractor:
    """Keras MobileNetV2 built from the broadcast ``.weights.h5`` bytes."""

    def __init__(self, weights_h5: bytes, num_threads: int = 1) -> None:
        import tensorflow as tf

        from spark_app.keras_model import build_keras_model

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
        raise ValueError(f"unknown backend {payload.backend!r}; choose one of {', '.join(BACKENDS)}")
    if _CLASHES[payload.backend] in sys.modules:
        raise RuntimeError(
            f"this Python process already loaded {_CLASHES[payload.backend]}, which cannot share a process "
            f"with the {payload.backend} backend: use one backend per Spark session"
        )
    return _BUILDERS[payload.backend](payload.blob, payload.num_threads)


_cache_lock = threading.Lock()
_extractors: dict[Any, FeatureExtractor] = {}


def get_extractor(key: Any, load_payload: Callable[[], ModelPayload]) -> tuple[FeatureExtractor, bool]:
    """This worker's extractor for ``key`` (e.g. the broadcast id), built on first use.

    Returns ``(extractor, built_now)``; ``load_payload`` is called only when building.
    """
    with _cache_lock:
        if key in _extractors:
            return _extractors[key], False
        extractor = build_extractor(load_payload())
        _extractors[key] = extractor
        return extractor, True
