"""Reviewer vigilance: the scheduled watch (``lambdas/vigilance.py``, read-only on the audit
trail) and one CloudWatch alarm per flag (rubber stamp, fast dwell, missed canary), each firing
when any reviewer × action type line carries it. The alarms notify ``alarm_topic``; without
one, a KMS-encrypted topic of its own is created (subscribe to it, or pass the stack's ops topic)."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
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
        self.alarm_topic = alarm_topic or self._topic()
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
            alarm.add_alarm_action(actions.SnsAction(self.alarm_topic))
            self.alarms[flag] = alarm

    def _topic(self) -> sns.Topic:
        key = kms.Key(self, "AlarmKey", enable_key_rotation=True, description="Countersign vigilance alarm topic")
        key.add_to_resource_policy(iam.PolicyStatement(     # CloudWatch publishes to the encrypted topic
            actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=["*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")]))
        return sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True,
                         display_name="Countersign reviewer vigilance")
