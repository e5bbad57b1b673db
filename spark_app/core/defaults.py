"""Every default of the pipeline, defined once: the job, the lifecycle commands, the Lambdas and the stack
read them from here."""

from __future__ import annotations

# -- the model -----------------------------------------------------------------------------------
#: MobileNetV2's input side (pixels) and the size of its global-average-pooled features.
INPUT_SIZE = 224
FEATURE_DIM = 1280

# -- inputs --------------------------------------------------------------------------------------
#: Largest object read (bytes): far above a 12 MP phone photo, far below a worker's memory.
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Pixel-count limit: above any phone camera's native resolution (200 MP sensors bin to 50 MP by
#: default), far below what would exhaust a worker's memory (decompression-bomb guard).
MAX_PIXELS = 100_000_000

# -- the feature job -----------------------------------------------------------------------------
#: Images decoded and inferred together per Python worker.
BATCH_SIZE = 32
#: Concurrent object reads per Python worker: hides S3 GET latency behind decoding and inference.
READ_THREADS = 8
#: Files per Spark task, at most ...
FILES_PER_PARTITION = 256
#: ... and at least, while there are more tasks than the job can run at once (spark_app/job/tasks.py).
MIN_FILES_PER_PARTITION = 64
#: Below this confidence the answer is ``unknown``.
CONFIDENCE_THRESHOLD = 0.5

# -- PCA -----------------------------------------------------------------------------------------
#: A basis keeps the smallest k reaching this explained variance (unless k is given).
PCA_VARIANCE = 0.95
#: Fitting a basis needs at least this many distinct images ...
PCA_MIN_IMAGES = 1000
#: ... and at least this many per component.
MIN_IMAGES_PER_COMPONENT = 4

# -- the classifier ------------------------------------------------------------------------------
#: Training refuses classes with fewer training images than this.
MIN_PER_CLASS = 5
#: Share of the labelled images held out for validation when no path split is given.
VALIDATION_PERCENT = 20
#: The regularisation strengths (pyspark.ml ``regParam``, standardization on) cross-validation chooses from.
REG_PARAM_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)
#: Folds of the cross-validation that chooses the classifier (curated training rows only).
CV_FOLDS = 3
#: A nearest-neighbour head keeps at most this many training images (float16, unit-normalized:
#: 2.5 KB each, 25 MB at the cap); above it only logistic regression is considered.
MAX_NN_PROTOTYPES = 10_000
#: All of one identity's corrections together weigh at most this many curated images in training.
MAX_WEIGHT_PER_IDENTITY = 5.0
#: The promotion gate: a new classifier's curated validation top-1 may fall at most this much below
#: the promoted one's on the same images (0.005 = half a point).
GATE_TOLERANCE = 0.005

# -- the store's layout (under the job's --output) -----------------------------------------------
FEATURES_DIR = "features"
ERRORS_DIR = "errors"
RUNS_DIR = "runs"
#: People's corrections of their photos' labels: one small JSON object each (``core/corrections.py``).
CORRECTIONS_DIR = "corrections"
#: Erasure's bookkeeping (``core/erasure.py``): tombstones, writers' leases and receipts.
ERASURE_DIR = "erasure"
#: How long an erasure keeps its tombstone (and then erases again) after its first pass: longer than a
#: guest's credentials live (1 h), an upload grant and the ingest batching window, so that nothing the
#: identity started before the erasure can land after its last pass.
ERASURE_HOLD_SECONDS = 3600
#: A writer's lease expires after this long (a crashed batch blocks an erasure no longer): at least a
#: job run's timeout (shared.JOB_TIMEOUT_MINUTES) plus its queue time.
LEASE_SECONDS = 6 * 3600
#: Default registries of PCA bases and classifiers when no directory is given.
PCA_MODELS_DIR = "pca_models"
CLASSIFIERS_DIR = "classifiers"
#: A reference to the promoted version of a registry.
LATEST = "latest"
