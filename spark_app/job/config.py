"""What one feature job needs, typed and checked once: built by the command line or by a caller."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from spark_app.core.defaults import (
    BATCH_SIZE,
    CLASSIFIERS_DIR,
    CONFIDENCE_THRESHOLD,
    FILES_PER_PARTITION,
    LATEST,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    PCA_MODELS_DIR,
    READ_THREADS,
)
from spark_app.core.manifest import BATCH_ID_PREFIX, MANIFEST_SUFFIX
from spark_app.core.model import FP32, LITERT
from spark_app.core.uris import is_s3_uri, join_uri
from spark_app.models.weights import DEFAULT_WEIGHTS

BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class RunConfig:
    """Everything one feature job needs."""

    output: str
    input: str | None = None
    manifest: str | None = None
    batch_id: str | None = None
    weights: str = DEFAULT_WEIGHTS
    weights_sha256: str | None = None
    backend: str = LITERT
    #: ``fp32`` (default) or ``int8`` (the calibrated LiteRT model; see docs/int8.md).
    precision: str = FP32
    threads_per_worker: int = 1
    #: The PCA basis to project on: a version's URI, or ``latest`` (the promoted one; none yet: no pca).
    pca_model: str = LATEST
    pca_model_dir: str | None = None
    #: The classifier to predict with: a version's URI, or ``latest`` (none promoted yet: no prediction).
    classifier: str = LATEST
    classifier_dir: str | None = None
    confidence_threshold: float = CONFIDENCE_THRESHOLD
    #: Where one JSON answer per input is written (``<answers>/<upload key>.json``); None: none.
    answers: str | None = None
    #: Glue database whose ``features``/``errors`` tables get this batch's partition (s3:// output).
    glue_database: str | None = None
    batch_size: int = BATCH_SIZE
    max_pixels: int = MAX_PIXELS
    max_file_bytes: int = MAX_FILE_BYTES
    read_threads: int = READ_THREADS
    files_per_partition: int = FILES_PER_PARTITION

    def __post_init__(self) -> None:
        if (self.input is None) == (self.manifest is None):
            raise ValueError("give exactly one of --input or --manifest")
        if self.glue_database and not is_s3_uri(self.output):
            raise ValueError("--glue-database needs an s3:// --output (the catalog describes S3 data)")
        if self.batch_id is not None and not BATCH_ID_RE.match(self.batch_id):
            raise ValueError(f"invalid batch id {self.batch_id!r}: use 1-80 letters, digits, '.', '_' or '-'")
        if not 0.0 < self.confidence_threshold <= 1.0:
            raise ValueError(f"--confidence-threshold must be in (0, 1], got {self.confidence_threshold}")

    @property
    def pca_dir(self) -> str:
        """The PCA registry: ``--pca-model-dir``, else ``<output>/pca_models``."""
        return self.pca_model_dir or join_uri(self.output, PCA_MODELS_DIR)

    @property
    def classifiers_dir(self) -> str:
        """The classifier registry: ``--classifier-dir``, else ``<output>/classifiers``."""
        return self.classifier_dir or join_uri(self.output, CLASSIFIERS_DIR)

    def resolved_batch_id(self) -> str:
        """The batch id: given, the manifest's name when it is one, else a stable slug of the input."""
        if self.batch_id:
            return self.batch_id
        source = self.manifest or self.input or ""
        stem = PurePosixPath(source.rstrip("/")).name
        if self.manifest and stem.endswith(MANIFEST_SUFFIX):
            stem = stem[: -len(MANIFEST_SUFFIX)]
        if self.manifest and stem.startswith(BATCH_ID_PREFIX) and BATCH_ID_RE.match(stem):
            return stem
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:40] or "input"
        return f"{slug}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"
