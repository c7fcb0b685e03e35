"""Operations: the ops topic, the alarms that publish to it, and one dashboard.

The topic (``.topic``) is KMS-encrypted and TLS-only; ``ops_email`` is subscribed to it (mail SNS
cannot deliver goes to ``undelivered``, the reviewers' dead-letter queue, itself alarmed). Other
constructs add alarms of their own with ``alarm(...)`` or by pointing an alarm action at ``.topic``.

Custom metrics come from the functions through Powertools (EMF, namespace ``Countersign``,
dimension ``service``): the reminder sweep reports the pending reviews, the age of the oldest and
the kill switch; the review API counts refused requests by status; Conclude counts verdicts by
outcome and route and the time to a human decision; every function counts the events it could not
publish.
"""
from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .config import Ops

NAMESPACE = "Countersign"
ROUTES = ("auto", "human_review", "veto_window", "post_execution", "post_hoc")
OUTCOMES = ("auto_approved", "approved", "modified", "rejected", "vetoed", "reversed", "expired", "halted", "failed")
REFUSALS = (400, 403, 404, 405, 409, 413)
FIVE_MINUTES = Duration.minutes(5)


def metric(name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES, label: str | None = None) -> cw.Metric:
    """A Countersign custom metric, as Powertools publishes it."""
    return cw.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map={"service": "countersign"},
                     statistic=statistic, period=period, label=label or name)


class Operations(Construct):
    def __init__(self, scope: Construct, cid: str, *, ops: Ops, sweep_minutes: int,
                 dead_letters: dict[str, sqs.IQueue], undelivered: sqs.IQueue, dispatcher: lambda_.IFunction,
                 state_machine: sfn.IStateMachine, functions: dict[str, lambda_.IFunction]) -> None:
        super().__init__(scope, cid)
        key = kms.Key(self, "Key", enable_key_rotation=True, description="Countersign ops alarms topic")
        # CloudWatch alarms publish to the encrypted topic only if CloudWatch may use its key.
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")]))
        self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True, display_name="Countersign ops")
        if ops.email:
            self.topic.add_subscription(subs.EmailSubscription(ops.email, dead_letter_queue=undelivered))
        self.alarms: dict[str, cw.Alarm] = {}

        for name, queue in dead_letters.items():
            self.alarm(f"{name}NotEmpty", queue.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"), 0,
                f"Countersign: messages in the {name} dead-letter queue (see README, Operating Countersign)")
        self.alarm("DispatcherErrors", dispatcher.metric_errors(period=FIVE_MINUTES), 0,
                   "Countersign: the dispatcher failed; stored decisions wait for the reconciler")
        self.alarm("ExecutionsFailed", cw.MathExpression(
            expression="failed + timedOut", label="failed or timed out", period=FIVE_MINUTES,
            using_metrics={"failed": state_machine.metric_failed(period=FIVE_MINUTES),
                           "timedOut": state_machine.metric_timed_out(period=FIVE_MINUTES)}), 0,
            "Countersign: workflow executions failed or timed out (refused and halted proposals fail too)")
        self.alarm("ReviewWaiting", metric("OldestPendingReviewSeconds", "Maximum"),
                   ops.pending_age_hours * 3600 - 1,
                   f"Countersign: a review has waited longer than {ops.pending_age_hours} h for a human")
        self.alarm("RefusedLinks", metric("RequestsRefused_403"), ops.refused_links - 1,
                   f"Countersign: {ops.refused_links} or more refused review links in 5 minutes")
        period = Duration.minutes(sweep_minutes)
        self.alarm("KillSwitchOn", metric("KillSwitchEngaged", "Minimum", period=period), 0,
                   f"Countersign: the kill switch has not been off for {ops.kill_switch_minutes} minutes",
                   periods=max(1, math.ceil(ops.kill_switch_minutes / sweep_minutes)))
        self.alarm("EventsNotPublished", metric("EventsNotPublished"), 0,
                   "Countersign: events could not be put on the event bus (the audit trail has them)")
        self.dashboard = self._dashboard(functions, state_machine)

    def alarm(self, cid: str, watched: cw.IMetric, above: float, description: str, periods: int = 1) -> cw.Alarm:
        """An alarm when ``watched`` exceeds ``above`` for ``periods`` periods, to the ops topic."""
        alarm = cw.Alarm(self, cid, metric=watched, threshold=above, evaluation_periods=periods,
                         comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                         treat_missing_data=cw.TreatMissingData.NOT_BREACHING, alarm_description=description)
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[cid] = alarm
        return alarm

    def _dashboard(self, functions: dict[str, lambda_.IFunction], state_machine: sfn.IStateMachine) -> cw.Dashboard:
        board = cw.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        graph = lambda title, metrics, **kw: cw.GraphWidget(title=title, left=metrics, width=12, height=6, **kw)  # noqa: E731
        board.add_widgets(
            graph("Proposals by route", [metric(f"Route_{r}", label=r) for r in ROUTES]
                  + [metric("ProposalsRefused", label="refused at intake")], stacked=True),
            graph("Verdicts by outcome", [metric(f"Outcome_{o}", label=o) for o in OUTCOMES], stacked=True))
        board.add_widgets(
            graph("Time to a human decision (s)", [metric("TimeToDecisionSeconds", "p50", label="p50"),
                                                   metric("TimeToDecisionSeconds", "p95", label="p95")]),
            graph("Pending reviews", [metric("PendingReviews", "Maximum", label="pending")],
                  right=[metric("OldestPendingReviewSeconds", "Maximum", label="oldest (s)")]))
        board.add_widgets(
            graph("Refusals by reason", [metric(f"RequestsRefused_{s}", label=f"review API {s}") for s in REFUSALS]
                  + [metric("ProposalsRefused", label="invalid proposal")], stacked=True),
            graph("Executions", [state_machine.metric_started(), state_machine.metric_succeeded(),
                                 state_machine.metric_failed(), state_machine.metric_timed_out()]))
        board.add_widgets(
            graph("Lambda errors", [fn.metric_errors(label=name) for name, fn in functions.items()]),
            graph("Lambda duration p95 (ms)", [fn.metric_duration(statistic="p95", label=name)
                                               for name, fn in functions.items()]))
        return board
