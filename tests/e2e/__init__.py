"""Local end-to-end flow: the CDK app's resources in a moto server, the real ingest Lambda and spark_app."""
