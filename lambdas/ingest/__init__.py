"""Ingest Lambda: SQS batches of S3 upload notifications -> one manifest and one pipeline run per batch."""
