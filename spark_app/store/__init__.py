"""Storage and catalog: objects by URI (local or S3, boto3), Spark's partitioned datasets, Glue, SQL."""
