"""Props of the ImageRepositoryStack: the Spark image repository and who may push to it."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import require_match, require_positive


@dataclass(frozen=True)
class ImageRepositoryProps:
    """The stack-owned ECR repository of the EMR Serverless Spark image."""

    #: Name of the ECR repository (the pipeline stack's synthesizer pushes its image asset there).
    #: Pattern ``[a-z0-9][a-z0-9._/-]{1,255}``. Default ``fruits-spark-image``.
    repository_name: str = shared.DEFAULT_NAMES.image_repository
    #: Images kept in the repository (older ones expire). Positive. Default 5.
    image_retention_count: int = 5
    #: CDK bootstrap qualifier (``cdk bootstrap --qualifier``): names the image-publishing role allowed to
    #: push. Pattern ``[a-z0-9]{1,10}``. Default ``hnb659fds`` (CDK's default).
    bootstrap_qualifier: str = "hnb659fds"

    def __post_init__(self) -> None:
        require_match(
            self,
            "repository_name",
            r"[a-z0-9][a-z0-9._/-]{1,255}",
            "an ECR repository name (a-z 0-9 . _ - /)",
        )
        require_positive(self, "image_retention_count")
        require_match(self, "bootstrap_qualifier", r"[a-z0-9]{1,10}", "1-10 characters of a-z and 0-9")

    def publishing_role_arn(self, account: str, region: str) -> str:
        """The CDK bootstrap role that pushes Docker image assets (``cdk bootstrap`` creates it)."""
        return (
            f"arn:aws:iam::{account}:role/cdk-{self.bootstrap_qualifier}-image-publishing-role-"
            f"{account}-{region}"
        )
