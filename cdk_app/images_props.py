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
    #: Lambda functions (names, this account and region) that run an image of this repository: the Lambda
    #: service may pull for them. Default ``("fruits-answer",)``.
    lambda_functions: tuple[str, ...] = (shared.DEFAULT_NAMES.answer_function,)
    #: Tags of the images the pipeline stack runs now (its Spark image and the answer Lambda's): never
    #: expired, whatever the number of newer images of the other. Set by the app from the pipeline stack's
    #: assets. Default none.
    protected_tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_match(
            self,
            "repository_name",
            r"[a-z0-9][a-z0-9._/-]{1,255}",
            "an ECR repository name (a-z 0-9 . _ - /)",
        )
        require_positive(self, "image_retention_count")
        require_match(self, "bootstrap_qualifier", r"[a-z0-9]{1,10}", "1-10 characters of a-z and 0-9")
        for name in self.lambda_functions:
            require_match(_Named(name), "name", r"[A-Za-z0-9_-]{1,64}", "a Lambda function name")

    def publishing_role_arn(self, account: str, region: str) -> str:
        """The CDK bootstrap role that pushes Docker image assets (``cdk bootstrap`` creates it)."""
        return (
            f"arn:aws:iam::{account}:role/cdk-{self.bootstrap_qualifier}-image-publishing-role-"
            f"{account}-{region}"
        )


@dataclass(frozen=True)
class _Named:
    """One value of a tuple field, checked like a field."""

    name: str
