"""Operating Countersign, asserted on the real template: the ops topic and its alarms, the
dashboard, the event bus permissions, and encrypted log groups."""
from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from tests.conftest import TEST_CONTEXT

OPS = {"ops_email": "oncall@example.com", "event_bus_name": "agents", "ops_pending_age_hours": 2,
       "ops_kill_switch_minutes": 30, "ops_refused_links": 50}


@pytest.fixture(scope="module")
def default(synthesized) -> Template:
    return Template.from_stack(synthesized.stack)


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Template:
    """The same app, with the ops context keys set."""
    import aws_cdk as cdk

    import app as cdk_app
    from countersign.sandbox.synth import context

    app = cdk.App(context=context({**TEST_CONTEXT, **OPS}), outdir=str(tmp_path_factory.mktemp("ops.out")))
    return Template.from_stack(cdk_app.build(app))


def alarms(template: Template) -> dict[str, dict]:
    """Alarms by the first words of their description."""
    found = template.find_resources("AWS::CloudWatch::Alarm")
    return {a["Properties"]["AlarmDescription"]: a["Properties"] for a in found.values()}


def watched(props: dict) -> list[tuple]:
    """(namespace, metric, statistic, period, dimensions) of each metric an alarm reads."""
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], props["Statistic"], props["Period"], props.get("Dimensions"))]
    return [(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Stat"],
             m["MetricStat"]["Period"], m["MetricStat"]["Metric"].get("Dimensions"))
            for m in props["Metrics"] if "MetricStat" in m]


def ops_topic(template: Template) -> str:
    topics = template.find_resources("AWS::SNS::Topic", {"Properties": {"DisplayName": "Countersign ops"}})
    assert len(topics) == 1
    return next(iter(topics))


def test_the_ops_topic_is_encrypted_tls_only_and_mails_ops_email(configured):
    topic = ops_topic(configured)
    configured.has_resource_properties("AWS::SNS::Topic", {"DisplayName": "Countersign ops",
                                                           "KmsMasterKeyId": Match.any_value()})
    configured.has_resource_properties("AWS::SNS::TopicPolicy", {"Topics": [{"Ref": topic}], "PolicyDocument": {
        "Statement": Match.array_with([Match.object_like(
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})
    configured.has_resource_properties("AWS::SNS::Subscription", {
        "TopicArn": {"Ref": topic}, "Protocol": "email", "Endpoint": "oncall@example.com"})


def test_without_ops_email_nobody_is_subscribed_to_the_ops_topic(default):
    topic = ops_topic(default)
    assert not default.find_resources("AWS::SNS::Subscription", {"Properties": {"TopicArn": {"Ref": topic}}})


def test_every_alarm_tells_the_ops_topic_when_it_fires_and_when_it_clears(configured):
    topic = ops_topic(configured)
    found = alarms(configured)
    assert len(found) == 8 + 3                          # and the three reviewer-vigilance alarms
    for props in found.values():
        assert props["AlarmActions"] == [{"Ref": topic}] and props["OKActions"] == [{"Ref": topic}]


def test_the_alarms_watch_what_the_issue_names_with_the_configured_limits(configured):
    def by_start(phrase: str) -> dict:
        found = [props for description, props in alarms(configured).items() if phrase in description]
        assert len(found) == 1, phrase
        return found[0]

    dlq = [p for d, p in alarms(configured).items() if "dead-letter queue" in d]
    assert len(dlq) == 2 and all(watched(p)[0][1] == "ApproximateNumberOfMessagesVisible"
                                 and p["Threshold"] == 0 for p in dlq)
    assert watched(by_start("the dispatcher failed"))[0][:2] == ("AWS/Lambda", "Errors")
    failed = by_start("workflow executions failed or timed out")
    assert sorted(m[1] for m in watched(failed)) == ["ExecutionsFailed", "ExecutionsTimedOut"]
    waiting = by_start("a review has waited longer than 2 h")
    assert watched(waiting)[0][1:3] == ("OldestPendingReviewSeconds", "Maximum") and waiting["Threshold"] == 7199
    refused = by_start("50 or more refused review links in 5 minutes")
    assert watched(refused)[0][1:4] == ("RequestsRefused_403", "Sum", 300) and refused["Threshold"] == 49
    kill = by_start("the kill switch has not been off for 30 minutes")
    # the sweep reports every 5 minutes: 6 periods in a row of "not off" is 30 minutes
    assert watched(kill)[0][1:4] == ("KillSwitchEngaged", "Minimum", 300) and kill["EvaluationPeriods"] == 6
    assert watched(by_start("events could not be put"))[0][1] == "EventsNotPublished"
    custom = [m for p in alarms(configured).values() for m in watched(p) if m[0] == "Countersign"]
    assert len(custom) == 4 + 3 and all(m[4] == [{"Name": "service", "Value": "countersign"}] for m in custom)  # + vigilance


def test_a_configured_verdict_delivery_adds_its_dead_letter_alarm(default):
    assert len([d for d in alarms(default) if "dead-letter queue" in d]) == 2   # none configured here


def test_the_dashboard_shows_routes_outcomes_time_to_decision_pending_refusals_and_lambdas(default):
    dashboards = default.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = json.dumps(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    for title in ("Proposals by route", "Verdicts by outcome", "Time to a human decision (s)", "Pending reviews",
                  "Refusals by reason", "Lambda errors", "Lambda duration p95 (ms)"):
        assert f'\\"title\\":\\"{title}\\"' in body, title
    for metric in ("Route_human_review", "Outcome_rejected", "TimeToDecisionSeconds", "PendingReviews",
                   "RequestsRefused_403", "ProposalsRefused"):
        assert metric in body, metric
    assert '\\"stat\\":\\"p95\\"' in body and '\\"stat\\":\\"p50\\"' in body


def _put_events_roles(template: Template) -> list[str]:
    policies = [p["Properties"] for p in template.find_resources("AWS::IAM::Policy").values()
                if "events:PutEvents" in json.dumps(p)]
    return sorted(r["Ref"].split("Role")[0].removeprefix("GateFunctions") for p in policies for r in p["Roles"])


def test_the_steps_that_announce_may_put_events_on_the_configured_bus_only(configured, default):
    assert _put_events_roles(configured) == ["Conclude", "Dispatcher", "Reconciler", "RequestReview"]
    statements = [s for p in configured.find_resources("AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "events:PutEvents"]
    assert statements and all(":event-bus/agents" in json.dumps(s["Resource"]) for s in statements)
    assert all(":event-bus/default" in json.dumps(s["Resource"]) for p in default.find_resources(
        "AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "events:PutEvents")
    functions = configured.find_resources("AWS::Lambda::Function")
    told = sorted(f["Properties"]["Handler"] for f in functions.values()
                  if f["Properties"]["Environment"]["Variables"].get("EVENT_BUS_NAME") == "agents")
    assert told == ["lambdas.conclude.handler", "lambdas.dispatcher.handler", "lambdas.reconciler.handler",
                    "lambdas.request_review.handler"]


def test_the_reminder_sweep_may_read_pending_reviews_and_the_kill_switch(default):
    reminders = next(k for k, f in default.find_resources("AWS::Lambda::Function").items()
                     if f["Properties"]["Handler"] == "lambdas.reminders.handler")
    role = default.find_resources("AWS::Lambda::Function")[reminders]["Properties"]["Role"]["Fn::GetAtt"][0]
    policy = json.dumps([p for p in default.find_resources("AWS::IAM::Policy").values()
                         if {"Ref": role} in p["Properties"]["Roles"]])
    assert "/index/by-reviewer" in policy and "ssm:GetParameter" in policy


def test_every_log_group_is_encrypted_with_a_rotated_key(default):
    groups = default.find_resources("AWS::Logs::LogGroup")
    assert len(groups) >= 10
    keys = {json.dumps(g["Properties"]["KmsKeyId"]) for g in groups.values()}
    assert len(keys) == 1
    key = json.loads(keys.pop())["Fn::GetAtt"][0]
    assert default.find_resources("AWS::KMS::Key")[key]["Properties"]["EnableKeyRotation"] is True
