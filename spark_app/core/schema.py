"""The one definition of the datasets' columns: what the job writes and what the Glue tables declare.

Types are Spark SQL DDL types, which are also the Hive types of the Glue tables (``string``, ``int``,
``float``, ``double``, ``timestamp``, ``array<...>``). Both Parquet datasets are partitioned by
``batch_id``; people's corrections are small JSON objects, one per photo.
"""

from __future__ import annotations

from spark_app.core.defaults import ERRORS_DIR, FEATURES_DIR

PARTITION_COLUMN = "batch_id"

#: One row per input file, as the Python workers return it (features or the error).
EXTRACTED = (
    ("path", "string"),
    ("label", "string"),
    ("image_id", "string"),
    ("width", "int"),
    ("height", "int"),
    ("features", "array<float>"),
    ("processing_ms", "double"),
    ("error_stage", "string"),
    ("error", "string"),
)

#: The prediction of the promoted classifier (null while none is promoted).
PREDICTION = (
    ("predicted_label", "string"),
    ("confidence", "float"),
    ("top3_labels", "array<string>"),
    ("top3_confidences", "array<float>"),
    ("classifier_version", "string"),
)

#: What the extraction pass returns: the extracted columns plus the heads applied in NumPy
#: (``spark_app/heads.py``: null when no basis or classifier was promoted before the batch).
EXTRACTED_WITH_HEADS = (*EXTRACTED, ("pca", "array<float>"), ("pca_version", "string"), *PREDICTION)

#: ``features/``: one row per image.
FEATURES = (
    ("image_id", "string"),
    ("path", "string"),
    ("label", "string"),
    ("width", "int"),
    ("height", "int"),
    ("features", "array<float>"),
    ("pca", "array<float>"),
    ("model_version", "string"),
    ("pca_version", "string"),
    ("processing_ms", "double"),
    ("processed_at", "timestamp"),
    *PREDICTION,
)

#: ``errors/``: one row per input that could not be read or decoded.
ERRORS = (
    ("path", "string"),
    ("label", "string"),
    ("error_stage", "string"),
    ("error", "string"),
    ("model_version", "string"),
    ("processed_at", "timestamp"),
)

#: The datasets of a store, by folder (and Glue table) name.
DATASETS = {FEATURES_DIR: FEATURES, ERRORS_DIR: ERRORS}

#: ``corrections/``: one JSON object per (identity, photo), the latest correction of that photo
#: (``core/corrections.py``). Not partitioned, not Parquet: the Glue table reads every object under
#: its location, whatever the identity folder. ``corrected_at`` is ISO 8601 text (UTC).
CORRECTIONS = (
    ("identity_id", "string"),
    ("photo_id", "string"),
    ("image_id", "string"),
    ("label", "string"),
    ("new_class", "boolean"),
    ("corrected_at", "string"),
    ("classifier_version", "string"),
    ("model_version", "string"),
)


def ddl(columns: tuple[tuple[str, str], ...]) -> str:
    """``name type, ...`` for Spark (``mapInPandas`` schemas, ``createDataFrame``)."""
    return ", ".join(f"{name} {kind}" for name, kind in columns)


def names(columns: tuple[tuple[str, str], ...]) -> list[str]:
    """The column names, in order."""
    return [name for name, _ in columns]
