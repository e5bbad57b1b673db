"""A model's arrays as one ``.npz`` file beside its Spark ML folder: read without Spark.

A production batch only needs a promoted basis's components and a promoted classifier's
coefficients, as NumPy arrays for the extraction pass (``heads.py``). Loading them through
``PCAModel.load`` / ``LogisticRegressionModel.load`` costs a batch several seconds of Spark jobs
(metadata and Parquet reads); the ``.npz`` written next to each saved version costs one GET.
"""

from __future__ import annotations

import io

import numpy as np

from spark_app import storage

ARRAYS_FILE = "arrays.npz"


def save_arrays(version_uri: str, **arrays: np.ndarray) -> None:
    """Write ``<version_uri>/arrays.npz`` (before the file that marks the version complete)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    storage.write_bytes(storage.join_uri(version_uri, ARRAYS_FILE), buffer.getvalue())


def load_arrays(version_uri: str) -> dict[str, np.ndarray] | None:
    """The arrays saved with a version, or None for a version saved before they were (load it with Spark)."""
    uri = storage.join_uri(version_uri, ARRAYS_FILE)
    if not storage.exists(uri):
        return None
    with np.load(io.BytesIO(storage.read_bytes(uri)), allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}
