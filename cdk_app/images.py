"""Images: the stack-owned ECR repository that holds the EMR Serverless Spark image.

It lives in its own small stack, deployed before the pipeline stack: the pipeline stack's synthesizer
pushes its Docker image asset into this repository (``image_assets_repository_name``), and the CDK CLI
publishes a stack's assets only after the stacks it depends on are deployed (aws-cdk CLI,
``WorkGraphBuilder.addAsset``: each asset-publish node depends on the parent stack's dependencies).
The repository policy is an ordinary CloudFormation property: nothing edits the shared CDK bootstrap
repository, so no other stack or bootstrap update can break image pulls.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_app._util import BASIC_EXECUTION_ROLE, acknowledge, stack_singletons
from cdk_app.images_props import ImageRepositoryProps

EMR_SERVICE = "emr-serverless.amazonaws.com"
#: What EMR Serverless needs on a custom image's repository (EMR Serverless User Guide,
#: "Using custom images": same account and region, these three actions).
ECR_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer")
#: What the CDK asset publisher (cdk-assets) does on the repository: check it, check the image, push.
#: Same list as the bootstrap template's ImagePublishingRoleDefaultPolicy grants on its own repository.
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
#: What Lambda needs on the repository of a function's container image (Lambda Developer Guide, "Amazon ECR
#: permissions"); pinned here so that Lambda never edits this CloudFormation-managed policy itself.
LAMBDA_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
LAMBDA_SERVICE = "lambda.amazonaws.com"
#: Construct id prefix of CDK's helper Lambda that empties the repository on delete.
AUTO_DELETE_IMAGES_PROVIDER_ID = "Custom::ECRAutoDeleteImagesCustomResourceProvider"


def emr_applications_arn(region: str, account: str) -> str:
    """ARN pattern of the account's EMR Serverless applications (confused-deputy conditions)."""
    return f"arn:aws:emr-serverless:{region}:{account}:/applications/*"


def lifecycle_rules(props: ImageRepositoryProps) -> list[ecr.LifecycleRule]:
    """Keep the images in use and the last ``image_retention_count`` images.

    The repository holds two images (the Spark image and the answer Lambda's), each rebuilt at its own
    pace: a count alone could expire the one that changes less. An image matched by a higher-priority rule
    is never expired by a lower one (ECR lifecycle policies), so each image in use gets its own rule.
    """
    protected = [
        ecr.LifecycleRule(
            rule_priority=priority,
            description="An image the pipeline stack runs: never expired",
            tag_status=ecr.TagStatus.TAGGED,
            tag_prefix_list=[tag],
            max_image_count=1,
        )
        for priority, tag in enumerate(props.protected_tags, start=1)
    ]
    rest = ecr.LifecycleRule(
        rule_priority=len(protected) + 1,
        description="Older builds, kept for a rollback",
        max_image_count=props.image_retention_count,
    )
    return [*protected, rest]


class ImageRepositoryStack(Stack):
    """The Spark image repository: scanned on push, old images expire, emptied and deleted with the stack."""

    def __init__(self, scope: Construct, construct_id: str, props: ImageRepositoryProps, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.repository = ecr.Repository(
            self,
            "SparkImages",
            repository_name=props.repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            lifecycle_rules=lifecycle_rules(props),
            # Images are rebuilt from docker/ by every deploy: nothing is lost when the stack goes, and a
            # retained repository with this fixed name would block the next deploy.
            removal_policy=RemovalPolicy.DESTROY,
            empty_on_delete=True,
        )
        self.repository.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EmrServerlessCustomImageSupport",
                principals=[iam.ServicePrincipal(EMR_SERVICE)],
                actions=list(ECR_PULL_ACTIONS),
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": emr_applications_arn(self.region, self.account)},
                },
            )
        )
        if props.lambda_functions:
            self.repository.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="LambdaContainerImages",
                    principals=[iam.ServicePrincipal(LAMBDA_SERVICE)],
                    actions=list(LAMBDA_PULL_ACTIONS),
                    conditions={
                        "StringLike": {
                            "aws:SourceArn": [
                                f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
                                for name in props.lambda_functions
                            ]
                        }
                    },
                )
            )
        self.repository.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CdkImagePublishing",
                principals=[iam.ArnPrincipal(props.publishing_role_arn(self.account, self.region))],
                actions=list(ECR_PUSH_ACTIONS),
            )
        )
        for provider in stack_singletons(self, AUTO_DELETE_IMAGES_PROVIDER_ID):
            acknowledge(
                provider,
                {
                    BASIC_EXECUTION_ROLE: (
                        "CDK's helper that empties the image repository on stack deletion; the managed "
                        "policy only lets it write logs."
                    ),
                    "AwsSolutions-L1": "CDK's own custom-resource provider picks its runtime.",
                },
            )
