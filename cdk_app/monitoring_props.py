"""Props of the AlertTopic and Monitoring constructs: where alerts go, the alarms' wording, the budget."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import require_email_or_empty, require_match, require_positive


@dataclass(frozen=True)
class AlertTopicProps:
    """The SNS topic every alert goes to."""

    #: Name of the topic. Pattern ``[A-Za-z0-9_-]{1,256}``. Default ``fruits-alerts``.
    topic_name: str = shared.DEFAULT_NAMES.alerts_topic
    #: E-mail subscribed to the topic; ``""`` = no subscription. An e-mail address or ``""``. Default ``""``.
    alert_email: str = shared.ALERT_EMAIL

    def __post_init__(self) -> None:
        require_match(self, "topic_name", r"[A-Za-z0-9_-]{1,256}", "1-256 characters of A-Z a-z 0-9 _ -")
        require_email_or_empty(self, "alert_email")


@dataclass(frozen=True)
class MonitoringProps:
    """Alarms (DLQ, failed or timed-out executions, Lambda errors) and a monthly cost budget."""

    #: Start of every alarm description (``<prefix>: ...``). Non-empty. Default ``fruits``.
    alarm_prefix: str = shared.DEFAULT_NAME_PREFIX
    #: Name of the AWS Budget. 1-100 characters, no ':' or '\\'. Default ``fruits-monthly-eu-west-3``.
    budget_name: str = shared.DEFAULT_NAMES.budget
    #: Monthly cost budget in USD (notified at 80 % actual and 100 % forecast). Positive. Default 50.
    budget_monthly_usd: float = 50.0
    #: E-mail the budget notifies besides the topic; ``""`` = topic only. An e-mail address or ``""``.
    #: Default ``""``.
    alert_email: str = shared.ALERT_EMAIL

    def __post_init__(self) -> None:
        require_match(self, "alarm_prefix", r".+", "non-empty")
        require_match(self, "budget_name", r"[^:\\]{1,100}", "1-100 characters without ':' or '\\'")
        require_positive(self, "budget_monthly_usd")
        require_email_or_empty(self, "alert_email")
