"""The core: images, the model, the PCA/classifier heads and the answer document; no Spark, no AWS.

Spark jobs, Lambdas and the benchmark import it, and every Lambda that uses it ships it whole. Import
its modules directly (``from spark_app.core import manifest``): this file imports nothing, so a
Lambda that only needs the manifest format never loads NumPy or Pillow.
"""
