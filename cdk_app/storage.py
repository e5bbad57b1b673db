"""Storage: the ingestion, results, artifacts and access-log buckets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app._util import acknowledge
from cdk_app.storage_props import StorageProps


class Storage(Construct):
    """Four private, TLS-only, encrypted buckets with lifecycle rules and server access logs."""

    def __init__(self, scope: Construct, construct_id: str, props: StorageProps):
        super().__init__(scope, construct_id)
        abort = Duration.days(props.abort_multipart_days)

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access log delivery supports SSE-S3 only.
            **_secure_defaults(versioned=False),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(props.access_log_retention_days),
                    abort_incomplete_multipart_upload_after=abort,
                )
            ],
        )
        acknowledge(
            self.access_logs,
            {"AwsSolutions-S1": "This is the access-log bucket itself; logging it into itself would loop."},
        )

        # Raw uploads are transient (GDPR): no versioning, so an expired object is really gone.
        self.ingestion = s3.Bucket(
            self,
            "Ingestion",
            **_secure_defaults(versioned=False),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="ingestion/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-raw-uploads",
                    prefix=props.uploads_prefix,
                    expiration=Duration.days(props.upload_retention_days),
                ),
                # The app's photos before their commit: the commit deletes them; leftovers go after a day.
                s3.LifecycleRule(
                    id="expire-staged-uploads",
                    prefix=props.staging_prefix,
                    expiration=Duration.days(props.staging_retention_days),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-multipart", abort_incomplete_multipart_upload_after=abort
                ),
            ],
        )

        self.results = self._data_bucket(
            "Results",
            "results/",
            props,
            [
                s3.LifecycleRule(
                    id="expire-answers",
                    prefix=props.answers_prefix,
                    expiration=Duration.days(props.answer_retention_days),
                )
            ],
        )

        self.artifacts = self._data_bucket(
            "Artifacts",
            "artifacts/",
            props,
            [
                # Manifests list object keys of uploads: keep them no longer than needed.
                s3.LifecycleRule(
                    id="expire-manifests",
                    prefix=props.manifests_prefix,
                    expiration=Duration.days(props.manifest_retention_days),
                ),
                s3.LifecycleRule(
                    id="expire-emr-logs",
                    prefix=props.emr_logs_prefix,
                    expiration=Duration.days(props.log_retention_days),
                ),
            ],
        )

    def _data_bucket(self, construct_id: str, log_prefix: str, props: StorageProps, rules: list) -> s3.Bucket:
        """A versioned bucket whose old versions expire, with access logs and extra lifecycle rules."""
        return s3.Bucket(
            self,
            construct_id,
            **_secure_defaults(versioned=True),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions-and-abort-multipart",
                    noncurrent_version_expiration=Duration.days(props.noncurrent_version_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(props.abort_multipart_days),
                ),
                *rules,
            ],
        )


def _secure_defaults(*, versioned: bool) -> dict:
    """Settings shared by every bucket: private, owner-enforced, SSE-S3, TLS 1.2+ only, retained.

    No bucket gets a fixed name: a retained bucket keeps its name after ``cdk destroy``, and a fixed
    name would make the next ``cdk deploy`` fail with "already exists".
    """
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "minimum_tls_version": 1.2,
        "versioned": versioned,
        "removal_policy": RemovalPolicy.RETAIN,
    }
