"""AlertTopicProps and MonitoringProps: defaults, validation, and the topic, alarms and budget."""

from __future__ import annotations

import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_helpers import probe

from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.monitoring import AlertTopic, Monitoring
from cdk_app.monitoring_props import AlertTopicProps, MonitoringProps


def test_defaults_are_the_configuration_defaults() -> None:
    config = PipelineConfig()
    assert AlertTopicProps() == config.alert_topic_props()
    assert MonitoringProps() == config.monitoring_props()
    assert (AlertTopicProps().topic_name, AlertTopicProps().alert_email) == ("fruits-alerts", "")
    assert (MonitoringProps().budget_name, MonitoringProps().budget_monthly_usd) == (
        "fruits-monthly-eu-west-3",
        50.0,
    )


def test_the_configuration_gives_both_the_same_e_mail() -> None:
    config = PipelineConfig(alert_email="ops@example.com", region="eu-west-1", name_prefix="fx-dev")
    assert (
        config.alert_topic_props().alert_email == config.monitoring_props().alert_email == "ops@example.com"
    )
    assert config.monitoring_props().budget_name == "fx-dev-monthly-eu-west-1"
    assert config.monitoring_props().alarm_prefix == "fx-dev"


@pytest.mark.parametrize(
    ("cls", "field", "value", "message"),
    [
        (AlertTopicProps, "alert_email", "not-an-address", "alert_email 'not-an-address' is not an e-mail"),
        (AlertTopicProps, "topic_name", "my alerts", "topic_name 'my alerts' must be 1-256 characters"),
        (MonitoringProps, "alert_email", "ops@", "alert_email 'ops@' is not an e-mail address"),
        (MonitoringProps, "budget_monthly_usd", 0, "budget_monthly_usd must be positive"),
        (MonitoringProps, "budget_monthly_usd", -1.0, "budget_monthly_usd must be positive"),
        (MonitoringProps, "budget_name", "a:b", "budget_name 'a:b' must be 1-100 characters"),
        (MonitoringProps, "alarm_prefix", "", "alarm_prefix '' must be non-empty"),
    ],
)
def test_invalid_props_are_refused(cls: type, field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cls(**{field: value})


def test_no_e_mail_means_no_subscription() -> None:
    p = probe(lambda stack: AlertTopic(stack, "Alerts", AlertTopicProps(topic_name="t")))
    assert not p.resources("AWS::SNS::Subscription")
    assert p.properties(p.construct.topic)["TopicName"] == "t"


def test_topic_alarms_and_budget_follow_the_props() -> None:
    props = MonitoringProps(
        alarm_prefix="fx", budget_name="b", budget_monthly_usd=7.5, alert_email="ops@example.com"
    )

    def build(stack):
        topic = AlertTopic(stack, "Alerts", AlertTopicProps(alert_email="ops@example.com")).topic
        machine = sfn.StateMachine(
            stack, "M", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P"))
        )
        function = lambda_.Function(
            stack,
            "F",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context): pass"),
        )
        return Monitoring(
            stack,
            "Monitoring",
            props,
            topic=topic,
            dead_letter_queue=sqs.Queue(stack, "Q"),
            state_machine=machine,
            refit_state_machine=machine,
            ingest_function=function,
        )

    p = probe(build)
    p.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    descriptions = sorted(
        a["Properties"]["AlarmDescription"] for a in p.resources("AWS::CloudWatch::Alarm").values()
    )
    assert len(descriptions) == 5 and all(d.startswith("fx: ") for d in descriptions)
    (budget,) = p.resources("AWS::Budgets::Budget").values()
    assert budget["Properties"]["Budget"]["BudgetName"] == "b"
    assert budget["Properties"]["Budget"]["BudgetLimit"] == {"Amount": 7.5, "Unit": "USD"}
    for notification in budget["Properties"]["NotificationsWithSubscribers"]:
        assert {"SubscriptionType": "EMAIL", "Address": "ops@example.com"} in notification["Subscribers"]
