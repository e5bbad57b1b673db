"""Image bytes -> 1280-d features, or a readable reason why not: the per-image work, for a batch or one photo.

Pure functions (given an extractor): the Spark workers (``job/extract.py``) and the answer Lambda call
the same code, so a photo gets the same features, and the same error reasons, on both paths.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from spark_app.core import schema
from spark_app.core.decode import DecodeError, decode_image, preprocess
from spark_app.core.defaults import MAX_PIXELS
from spark_app.core.formats import is_supported_name, unsupported_reason
from spark_app.core.model import FeatureExtractor

if TYPE_CHECKING:  # pandas only for the batch's frames: the answer Lambda ships without it
    import pandas as pd

# Error stages, in pipeline order.
STAGE_FORMAT = "format"
STAGE_READ = "read"
STAGE_DECODE = "decode"
#: The upload's answer could not be written (the batch job: ``job/outcomes.py``).
STAGE_ANSWER = "answer"
STAGES = (STAGE_FORMAT, STAGE_READ, STAGE_DECODE, STAGE_ANSWER)

#: Columns of one extracted row (Spark DDL order): see spark_app.core.schema.
EXTRACTED_COLUMNS = tuple(schema.names(schema.EXTRACTED))


@dataclass(frozen=True)
class Rejected:
    """An input that becomes an error record at ``stage`` with a readable ``reason``."""

    stage: str
    reason: str


def rejected_by_name(uri: str) -> Rejected | None:
    """Why a file is refused by its name alone (an unsupported extension), or None."""
    return None if is_supported_name(uri) else Rejected(STAGE_FORMAT, unsupported_reason(uri))


@dataclass(frozen=True)
class Extracted:
    """What one input became: its image id, size as displayed and features, or its error."""

    image_id: str | None = None
    width: int | None = None
    height: int | None = None
    features: np.ndarray | None = None
    processing_ms: float | None = None
    error_stage: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def extract_contents(
    contents: Iterable[bytes | Rejected], extractor: FeatureExtractor, *, max_pixels: int = MAX_PIXELS
) -> list[Extracted]:
    """One result per input, in order: decode each as it arrives, then infer the decoded ones as one batch."""
    results: list[Extracted] = []
    decoded: list[tuple[int, np.ndarray, float]] = []  # (index, pixels, decode ms)
    for i, content in enumerate(contents):
        started = time.perf_counter()
        if isinstance(content, Rejected):
            results.append(Extracted(error_stage=content.stage, error=content.reason))
            continue
        try:
            image = decode_image(content, max_pixels=max_pixels)
        except DecodeError as exc:
            results.append(Extracted(error_stage=STAGE_DECODE, error=str(exc)))
            continue
        except Exception as exc:  # a decoder bug on one file must not fail the others
            reason = f"cannot decode this image ({type(exc).__name__}: {exc})"
            results.append(Extracted(error_stage=STAGE_DECODE, error=reason))
            continue
        results.append(Extracted(hashlib.sha256(content).hexdigest(), image.width, image.height))
        decoded.append((i, image.pixels, (time.perf_counter() - started) * 1000.0))
    if decoded:
        started = time.perf_counter()
        features = extractor.extract(preprocess(np.stack([pixels for _, pixels, _ in decoded])))
        per_image_ms = (time.perf_counter() - started) * 1000.0 / len(decoded)
        for (i, _, decode_ms), vector in zip(decoded, features, strict=True):
            results[i] = replace(results[i], features=vector, processing_ms=decode_ms + per_image_ms)
    return results


def extracted_frame(
    paths: Sequence[str], labels: Sequence[Any], results: Sequence[Extracted]
) -> pd.DataFrame:
    """The rows of a batch (``schema.EXTRACTED`` columns), one per input, in order."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "path": list(paths),
            "label": list(labels),
            "image_id": [r.image_id for r in results],
            "width": pd.array([r.width for r in results], dtype="Int32"),
            "height": pd.array([r.height for r in results], dtype="Int32"),
            "features": [r.features for r in results],
            "processing_ms": [r.processing_ms for r in results],
            "error_stage": [r.error_stage for r in results],
            "error": [r.error for r in results],
        }
    )
    return frame[list(EXTRACTED_COLUMNS)]
