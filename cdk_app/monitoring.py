"""Monitoring: the alert topic, alarms (DLQ, failed executions, Lambda errors) and a monthly budget."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app._util import acknowledge
from cdk_app.monitoring_props import AlertTopicProps, MonitoringProps

ALARM_PERIOD = Duration.minutes(5)
#: Budget notifications: actual spend at 80 %, forecast at 100 %.
BUDGET_THRESHOLDS = (("ACTUAL", 80), ("FORECASTED", 100))


class AlertTopic(Construct):
    """The SNS topic every alert goes to (plus an e-mail subscription when configured)."""

    def __init__(self, scope: Construct, construct_id: str, props: AlertTopicProps):
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", topic_name=props.topic_name, enforce_ssl=True)
        if props.alert_email:
            self.topic.add_subscription(subs.EmailSubscription(props.alert_email))
        acknowledge(
            self.topic,
            {
                "AwsSolutions-SNS2": (
                    "Alerts carry batch ids and error messages, no personal data. CloudWatch alarms and "
                    "AWS Budgets cannot publish to a topic under the AWS-managed SNS key, and a customer "
                    "managed key would bill every month while the pipeline is idle."
                )
            },
        )


class Monitoring(Construct):
    """Alarms to the alert topic and a monthly cost budget."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: MonitoringProps,
        *,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
        state_machine: sfn.IStateMachine,
        refit_state_machine: sfn.IStateMachine,
        ingest_function: lambda_.IFunction,
    ):
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        prefix = props.alarm_prefix
        alarms = {
            "DeadLetters": (
                dead_letter_queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD),
                f"{prefix}: upload notifications in the dead-letter queue",
            ),
            "FailedExecutions": (
                state_machine.metric_failed(period=ALARM_PERIOD),
                f"{prefix}: feature pipeline executions failed",
            ),
            "TimedOutExecutions": (
                state_machine.metric_timed_out(period=ALARM_PERIOD),
                f"{prefix}: feature pipeline executions timed out",
            ),
            "FailedRefits": (
                refit_state_machine.metric_failed(period=ALARM_PERIOD),
                f"{prefix}: PCA/classifier refit failed",
            ),
            "IngestErrors": (
                ingest_function.metric_errors(period=ALARM_PERIOD),
                f"{prefix}: ingest Lambda errors",
            ),
        }
        self.alarms: dict[str, cw.Alarm] = {}
        for alarm_id, (metric, description) in alarms.items():
            alarm = cw.Alarm(
                self,
                alarm_id,
                metric=metric.with_(
                    statistic=cw.Stats.MAXIMUM if alarm_id == "DeadLetters" else cw.Stats.SUM
                ),
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            self.alarms[alarm_id] = alarm

        # A topic with a resource policy (enforce_ssl creates one) loses SNS's default policy: every AWS
        # service that publishes needs its own statement, scoped to this account's alarms and budgets.
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBudgetsToPublish",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": topic.env.account}},
            )
        )
        subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic.topic_arn)]
        if props.alert_email:
            subscribers.append(
                budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=props.alert_email)
            )
        self.budget = budgets.CfnBudget(
            self,
            "MonthlyBudget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=props.budget_name,
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=props.budget_monthly_usd, unit="USD"),
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind,
                        comparison_operator="GREATER_THAN",
                        threshold=threshold,
                        threshold_type="PERCENTAGE",
                    ),
                    subscribers=subscribers,
                )
                for kind, threshold in BUDGET_THRESHOLDS
            ],
        )
