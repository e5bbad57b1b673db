"""The executor side of the job: ``mapInPandas`` over bounded batches of file URIs.

Each Python worker builds the extractor from the broadcast model once and keeps it for every later
task and batch; each batch's files are read concurrently (S3 GETs are latency-bound) and go through the
core's per-image work (``core/extract.py``) and heads (``core/heads.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spark_app.core.defaults import BATCH_SIZE, MAX_FILE_BYTES, MAX_PIXELS, READ_THREADS
from spark_app.core.extract import STAGE_READ, Rejected, extract_contents, extracted_frame, rejected_by_name
from spark_app.core.heads import Heads, with_heads
from spark_app.core.model import ModelPayload, get_extractor
from spark_app.store import objects


@dataclass(frozen=True)
class ExtractSettings:
    """Limits for one job's extraction."""

    batch_size: int = BATCH_SIZE
    max_pixels: int = MAX_PIXELS
    max_file_bytes: int = MAX_FILE_BYTES
    read_threads: int = READ_THREADS


def read_input(uri: str, max_bytes: int) -> bytes | Rejected:
    """One file's bytes, or why it is refused (its name, or a read error); never raises."""
    refused = rejected_by_name(uri)
    if refused is not None:
        return refused
    try:
        return objects.read_bytes(uri, max_bytes=max_bytes)
    except objects.StorageError as exc:
        return Rejected(STAGE_READ, str(exc))
    except Exception as exc:  # anything else about one file is that file's error, not the batch's
        return Rejected(STAGE_READ, f"cannot read {uri} ({type(exc).__name__}: {exc})")


def read_inputs(uris: list[str], settings: ExtractSettings) -> Iterable[bytes | Rejected]:
    """Contents of ``uris`` in order; up to ``read_threads`` reads in flight."""
    if settings.read_threads <= 1:
        return (read_input(uri, settings.max_file_bytes) for uri in uris)
    pool = objects.io_pool("read", settings.read_threads)
    return pool.map(lambda uri: read_input(uri, settings.max_file_bytes), uris)


def extract_batch(frame: pd.DataFrame, extractor: Any, settings: ExtractSettings) -> pd.DataFrame:
    """A frame of ``path``/``label`` rows -> one extracted row per input, always, in order."""
    paths = list(frame["path"])
    results = extract_contents(read_inputs(paths, settings), extractor, max_pixels=settings.max_pixels)
    return extracted_frame(paths, list(frame["label"]), results)


def make_partition_fn(
    payload_key: Any,
    load_payload: Callable[[], ModelPayload],
    settings: ExtractSettings,
    on_model_built: Callable[[], None] | None = None,
    heads: Heads | None = None,
    post: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]] | None = None,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """``mapInPandas`` function: bounded batches, model built once per Python worker.

    ``load_payload`` returns the broadcast value (called on the executor only when this worker has no
    model for ``payload_key`` yet); ``on_model_built`` counts builds; ``heads`` (the promoted basis and
    classifier) are applied to each batch in NumPy; ``post`` (the job's
    :class:`~spark_app.job.outcomes.OutcomeRecorder`) transforms the partition's batches.
    """

    def extracted(frames: Iterator[pd.DataFrame], extractor: Any) -> Iterator[pd.DataFrame]:
        for frame in frames:
            for start in range(0, len(frame), settings.batch_size):
                batch = extract_batch(frame.iloc[start : start + settings.batch_size], extractor, settings)
                yield with_heads(batch, heads)

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        extractor, built = get_extractor(payload_key, load_payload)
        if built and on_model_built is not None:
            on_model_built()
        batches = extracted(frames, extractor)
        yield from (post(batches) if post is not None else batches)

    return run
