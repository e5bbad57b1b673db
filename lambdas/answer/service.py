"""One upload -> its answer, with the batch's own core code, written only if it has none yet.

``answer_document`` is pure (given an extractor): the same extraction (``core/extract.py``), heads
(``core/heads.py``) and answer document (``core/answers.py``) as the Spark workers. ``answer_upload``
adds the edges: read the upload, write the answer (first writer wins). What happens to a photo:

* unreadable as a photo (unsupported name, above the size limit, empty, corrupt, not an image, too many
  pixels): an ``error`` answer with the reason, as the batch would write;
* no classifier promoted yet: a ``no_classifier`` answer (features computed, nothing predicted);
* anything else that fails (S3 throttled or unavailable, a missing upload, a model that cannot load): the
  invocation fails, Lambda retries it, then the event goes to the dead-letter queue and the batch answers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdas.answer.erasure import delete_answer, erasing
from lambdas.answer.events import Skip, SkipReason, Upload, parse_event
from spark_app.core.answers import answer_key, row_answer
from spark_app.core.defaults import MAX_PIXELS
from spark_app.core.extract import STAGE_READ, Extracted, Rejected, extract_contents, rejected_by_name
from spark_app.core.heads import Heads, apply_heads
from spark_app.core.model import FeatureExtractor
from spark_app.store import objects
from spark_app.store.answers import write_answer


@dataclass(frozen=True)
class Answered:
    """What one invocation did for an upload."""

    key: str
    answer: dict[str, Any]
    #: False when the upload had an answer already (the batch's, or a redelivered event's): left alone.
    written: bool
    extracted: Extracted
    #: Milliseconds spent reading the upload, on decode + inference + heads, and writing the answer.
    timings_ms: dict[str, float] = field(default_factory=dict)


def read_upload(uri: str, max_bytes: int) -> bytes | Rejected:
    """The photo's bytes, or why it gets an error answer (its name, or its size).

    Other read failures raise: they are transient or operational, so the invocation is retried and, if it
    keeps failing, the upload is left to the batch.
    """
    refused = rejected_by_name(uri)
    if refused is not None:
        return refused
    try:
        return objects.read_bytes(uri, max_bytes=max_bytes)
    except objects.ObjectTooLarge as exc:
        return Rejected(STAGE_READ, str(exc))


def answer_document(
    content: bytes | Rejected,
    extractor: FeatureExtractor,
    heads: Heads,
    model_version: str,
    *,
    max_pixels: int = MAX_PIXELS,
) -> tuple[dict[str, Any], Extracted]:
    """The answer for one upload's content (the batch's document, without a batch id) and its features."""
    (result,) = extract_contents([content], extractor, max_pixels=max_pixels)
    row: dict[str, Any] = {
        "image_id": result.image_id,
        "error_stage": result.error_stage,
        "error": result.error,
        "model_version": model_version,
    }
    row.update({name: values[0] for name, values in apply_heads([result.features], heads).items()})
    return row_answer(row, batch_id=None), result


@dataclass(frozen=True)
class Runtime:
    """What a warm container keeps: where answers go, the extractor and the promoted heads."""

    answers_root: str
    uploads_prefix: str
    max_object_bytes: int
    extractor: FeatureExtractor
    model_version: str
    heads: Any  # lambdas.answer.promoted.PromotedHeads (anything with ``current() -> Heads``)
    #: The feature store whose erasure tombstones stop answers (None: not checked).
    feature_store: str | None = None


def answer_upload(upload: Upload, runtime: Runtime) -> Answered:
    """Read, answer and write (first writer wins) one upload."""
    started = time.perf_counter()
    content = read_upload(upload.uri, runtime.max_object_bytes)
    read_done = time.perf_counter()
    answer, extracted = answer_document(
        content, runtime.extractor, runtime.heads.current(), runtime.model_version
    )
    answered = time.perf_counter()
    key = answer_key(upload.uri)
    written = write_answer(runtime.answers_root, key, answer)
    timings = {
        "read_ms": (read_done - started) * 1000.0,
        "answer_ms": (answered - read_done) * 1000.0,
        "write_ms": (time.perf_counter() - answered) * 1000.0,
    }
    return Answered(key, answer, written, extracted, {k: round(v, 2) for k, v in timings.items()})


def answer_event(event: Mapping[str, Any], runtime: Runtime) -> Answered | Skip:
    """Handle one EventBridge event: the upload's answer, or why there is none."""
    parsed = parse_event(event, uploads_prefix=runtime.uploads_prefix)
    if isinstance(parsed, Skip):
        return parsed
    erased = Skip(SkipReason.IDENTITY_ERASED, "its identity is being erased")
    if erasing(parsed.uri, runtime.uploads_prefix, runtime.feature_store):
        return erased
    answered = answer_upload(parsed, runtime)
    # Checked again once written: an erasure that began meanwhile may have deleted the answers already.
    if answered.written and erasing(parsed.uri, runtime.uploads_prefix, runtime.feature_store):
        delete_answer(runtime.answers_root, answered.key)
        return erased
    return answered


def summary(result: Answered | Skip) -> dict[str, Any]:
    """What an invocation logs and returns (no object key: keys name people's uploads)."""
    if isinstance(result, Skip):
        return {"skipped": str(result.reason), "detail": result.detail}
    answer = result.answer
    fields = ("status", "error_stage", "model_version", "pca_version", "classifier_version")
    return {
        **{name: answer.get(name) for name in fields},
        "written": result.written,
        **result.timings_ms,
    }
