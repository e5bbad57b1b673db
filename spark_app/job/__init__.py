"""The feature job on Spark: inputs -> one mapInPandas pass -> Parquet + answers, with exact accounting."""
