"""Fruits! image pipeline: photos -> MobileNetV2 features -> PCA -> classifier -> Parquet and answers.

Subpackages, imports pointing downward only:

- ``core``: images, the model, the heads, the answer document, formats, schema, defaults (no Spark, no AWS);
- ``store``: objects by URI (local or S3), datasets and partitions, the Glue catalog, local SQL;
- ``models``: the model registry, PCA fitting and back-fill, classifier training, the pinned weights;
- ``job``: the feature job on Spark (one pass, exact accounting);
- ``cli``: the command line.

Importing this package imports nothing else: a Lambda that ships ``core`` never loads Spark.
"""

__version__ = "2.0.0"
