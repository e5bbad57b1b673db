"""Fruits! image-feature pipeline: images -> MobileNetV2 features -> PCA -> Parquet.

Modules that the ingest Lambda shares (``formats``, ``manifest``) import only the
standard library, so importing this package never pulls in Spark or TensorFlow.
"""

__version__ = "1.0.0"
