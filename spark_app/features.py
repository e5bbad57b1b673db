"""Executor-side work: file URIs -> decoded tensors -> 1280-d features, or an error record.

:func:`extract_frame` is a pure pandas -> pandas function (given an extractor), so it is
tested without Spark; :func:`make_partition_fn` wraps it for ``DataFrame.mapInPandas``
with bounded batches and a once-per-worker model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spark_app import schema, storage
from spark_app.backends import FeatureExtractor, ModelPayload, get_extractor
from spark_app.decode import DEFAULT_MAX_PIXELS, DecodeError, decode_image, preprocess
from spark_app.formats import is_supported_name, unsupported_reason
from spark_app.heads import Heads, with_heads

DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
#: Concurrent reads per Python worker: hides S3 GET latency behind decoding and inference.
DEFAULT_READ_THREADS = 8

#: Columns produced per input file (Spark DDL, in order): see spark_app.schema.
EXTRACT_SCHEMA_DDL = schema.ddl(schema.EXTRACTED_WITH_HEADS)

# Error stages, in pipeline order.
STAGE_FORMAT = "format"
STAGE_READ = "read"
STAGE_DECODE = "decode"


@dataclass(frozen=True)
class ExtractSettings:
    """Limits for one run's extraction."""

    batch_size: int = DEFAULT_BATCH_SIZE
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    read_threads: int = DEFAULT_READ_THREADS


@dataclass
class _Decoded:
    index: int
    image_id: str
    width: int
    height: int
    pixels: np.ndarray  # uint8 (224, 224, 3): preprocessed as one batch
    elapsed_ms: float


class _Rejected(Exception):
    """An input that becomes an error record at ``stage``."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage


def _read(uri: str, settings: ExtractSettings) -> bytes | _Rejected:
    """Check the name and read one file; a rejection is returned, not raised (for pool.map)."""
    if not is_supported_name(uri):
        return _Rejected(STAGE_FORMAT, unsupported_reason(uri))
    try:
        return storage.read_bytes(uri, max_bytes=settings.max_file_bytes)
    except storage.StorageError as exc:
        return _Rejected(STAGE_READ, str(exc))


def _read_all(uris: list[str], settings: ExtractSettings) -> Iterator[bytes | _Rejected]:
    """Contents of ``uris`` in order; up to ``read_threads`` reads in flight (S3 GETs are latency-bound)."""
    if settings.read_threads <= 1:
        return (_read(uri, settings) for uri in uris)
    return storage.io_pool("read", settings.read_threads).map(lambda uri: _read(uri, settings), uris)


def extract_frame(
    frame: pd.DataFrame, extractor: FeatureExtractor, settings: ExtractSettings
) -> pd.DataFrame:
    """Process a frame of ``path``/``label`` rows; one output row per input row, always."""
    n = len(frame)
    out: dict[str, list[Any]] = {
        "path": list(frame["path"]),
        "label": list(frame["label"]),
        "image_id": [None] * n,
        "width": [None] * n,
        "height": [None] * n,
        "features": [None] * n,
        "processing_ms": [None] * n,
        "error_stage": [None] * n,
        "error": [None] * n,
    }
    decoded: list[_Decoded] = []
    for i, loaded in enumerate(_read_all(out["path"], settings)):
        started = time.perf_counter()
        if isinstance(loaded, _Rejected):
            out["error_stage"][i] = loaded.stage
            out["error"][i] = str(loaded)
            continue
        try:
            image = decode_image(loaded, max_pixels=settings.max_pixels)
        except DecodeError as exc:
            out["error_stage"][i] = STAGE_DECODE
            out["error"][i] = str(exc)
            continue
        decoded.append(
            _Decoded(
                index=i,
                image_id=hashlib.sha256(loaded).hexdigest(),
                width=image.width,
                height=image.height,
                pixels=image.pixels,
                elapsed_ms=(time.perf_counter() - started) * 1000.0,
            )
        )
    if decoded:
        started = time.perf_counter()
        features = extractor.extract(preprocess(np.stack([d.pixels for d in decoded])))
        per_image_ms = (time.perf_counter() - started) * 1000.0 / len(decoded)
        for d, vector in zip(decoded, features, strict=True):
            out["image_id"][d.index] = d.image_id
            out["width"][d.index] = d.width
            out["height"][d.index] = d.height
            out["features"][d.index] = vector
            out["processing_ms"][d.index] = d.elapsed_ms + per_image_ms
    result = pd.DataFrame(out)
    result["width"] = result["width"].astype("Int32")
    result["height"] = result["height"].astype("Int32")
    return result


def make_partition_fn(
    payload_key: Any,
    load_payload: Callable[[], ModelPayload],
    settings: ExtractSettings,
    on_model_built: Callable[[], None] | None = None,
    heads: Heads | None = None,
    post: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]] | None = None,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """``mapInPandas`` function: bounded batches, model built once per Python worker.

    ``load_payload`` returns the broadcast value (called on the executor only when this
    worker has no model for ``payload_key`` yet); ``on_model_built`` counts builds; ``heads``
    (a promoted PCA basis and classifier) are applied to each batch in NumPy; ``post`` (e.g. the
    single pass's :class:`~spark_app.outcomes.OutcomeRecorder`) transforms the partition's batches.
    """

    def extracted(frames: Iterator[pd.DataFrame], extractor: FeatureExtractor) -> Iterator[pd.DataFrame]:
        for frame in frames:
            for start in range(0, len(frame), settings.batch_size):
                batch = extract_frame(frame.iloc[start : start + settings.batch_size], extractor, settings)
                yield with_heads(batch, heads)

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        extractor, built = get_extractor(payload_key, load_payload)
        if built and on_model_built is not None:
            on_model_built()
        batches = extracted(frames, extractor)
        yield from (post(batches) if post is not None else batches)

    return run
