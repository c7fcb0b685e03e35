"""Reviewer vigilance: the scheduled watch (``lambdas/vigilance.py``, read-only on the audit
trail) and one CloudWatch alarm per flag (rubber stamp, fast dwell, missed canary), each firing
when any reviewer × action type line carries it. The alarms tell ``alarm_topic`` (or the topic
given to ``notify``: the stack's ops topic) when they fire and when they clear."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from countersign.evidence.vigilance import FAST_SECONDS, METRICS, RUBBER_STAMP_MIN, RUBBER_STAMP_RATE

from .audit_trail import AuditTrail
from .functions import METRICS_NAMESPACE, SERVICE, Functions

WHAT = {"rubber_stamp": f"approves as proposed at least {RUBBER_STAMP_RATE:.0%} of {RUBBER_STAMP_MIN}+ decisions",
        "fast": f"decides in a median dwell under {FAST_SECONDS:g} s",
        "missed_canary": "approved a canary (a known-bad proposal) as proposed"}


class Vigilance(Construct):
    def __init__(self, scope: Construct, cid: str, *, functions: Functions, audit: AuditTrail,
                 alarm_topic: sns.ITopic | None = None, every: Duration = Duration.hours(1),
                 window_days: int = 30) -> None:
        super().__init__(scope, cid)
        self.function = functions.add(
            "Vigilance", "lambdas.vigilance.handler", timeout=300, memory=512,
            description="Reviewer vigilance: flags from the decision history, as metrics",
            environment={"AUDIT_BUCKET": audit.bucket.bucket_name, "VIGILANCE_WINDOW_DAYS": str(window_days)})
        audit.grant_read(self.function)
        self.schedule = events.Rule(self, "Schedule", description="Countersign: watch reviewer vigilance",
                                    schedule=events.Schedule.rate(every),
                                    targets=[targets.LambdaFunction(self.function, retry_attempts=2)])
        self.alarms = {}
        for flag, name in METRICS.items():
            alarm = cloudwatch.Alarm(
                self, f"{name}Alarm", alarm_description=(
                    f"Countersign: a reviewer {WHAT[flag]} (over the last {window_days} days). "
                    "Run `countersign report vigilance` to see who."),
                metric=cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name,
                                         dimensions_map={"service": SERVICE}, statistic="Maximum", period=every),
                threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            self.alarms[flag] = alarm
        if alarm_topic is not None:
            self.notify(alarm_topic)

    def notify(self, topic: sns.ITopic) -> None:
        """Tell ``topic`` when an alarm fires and when it clears."""
        for alarm in self.alarms.values():
            alarm.add_alarm_action(actions.SnsAction(topic))
            alarm.add_ok_action(actions.SnsAction(topic))
