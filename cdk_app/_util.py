"""Small helpers shared by the constructs."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

#: CloudWatch Logs retention periods (days) and their CDK names, ascending.
_RETENTIONS: tuple[tuple[int, logs.RetentionDays], ...] = (
    (1, logs.RetentionDays.ONE_DAY),
    (3, logs.RetentionDays.THREE_DAYS),
    (5, logs.RetentionDays.FIVE_DAYS),
    (7, logs.RetentionDays.ONE_WEEK),
    (14, logs.RetentionDays.TWO_WEEKS),
    (30, logs.RetentionDays.ONE_MONTH),
    (60, logs.RetentionDays.TWO_MONTHS),
    (90, logs.RetentionDays.THREE_MONTHS),
    (120, logs.RetentionDays.FOUR_MONTHS),
    (150, logs.RetentionDays.FIVE_MONTHS),
    (180, logs.RetentionDays.SIX_MONTHS),
    (365, logs.RetentionDays.ONE_YEAR),
)


def log_retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch Logs retention that keeps logs at least ``days`` days (max one year)."""
    for length, retention in _RETENTIONS:
        if length >= days:
            return retention
    return _RETENTIONS[-1][1]


def nag_ref(stack: Stack, token: str) -> str:
    """cdk-nag's spelling of a ``Fn::GetAtt`` token in finding ids, e.g. ``<QueueAB12.Arn>``."""
    resolved = stack.resolve(token)
    logical_id, attribute = resolved["Fn::GetAtt"]
    return f"<{logical_id}.{attribute}>"


#: The AWS managed policy CDK's helper Lambdas get.
BASIC_EXECUTION_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)


def stack_singletons(stack: Stack, id_prefix: str) -> list[Construct]:
    """Stack-level singleton constructs CDK adds for its helpers (e.g. custom-resource Lambdas)."""
    return [child for child in stack.node.children if child.node.id.startswith(id_prefix)]


def acknowledge(scope: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings (finding id -> written reason) on ``scope`` and its children."""
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=rule, reason=why) for rule, why in findings.items())
    )


#: How long a dead-letter queue keeps a message (SQS's maximum): time to look at it and replay it.
DEAD_LETTER_RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, queue_name: str, what: str) -> sqs.Queue:
    """An encrypted, TLS-only dead-letter queue keeping messages 14 days; ``what`` it holds is the
    cdk-nag acknowledgement (a dead-letter queue needs none of its own)."""
    queue = sqs.Queue(
        scope,
        "DeadLetterQueue",
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    acknowledge(queue, {"AwsSolutions-SQS3": f"This queue is the dead-letter queue of {what}."})
    return queue


def list_under(
    sid: str, bucket: s3.IBucket, prefixes: list[str], actions: tuple[str, ...] = ("s3:ListBucket",)
) -> iam.PolicyStatement:
    """Listing ``bucket`` only where the request's ``s3:prefix`` matches one of ``prefixes`` (patterns)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": prefixes}},
    )
