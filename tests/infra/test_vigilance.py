"""The vigilance watch on the real template: an hourly schedule runs a function that can read
the trail's execution records and write nothing, and one alarm per flag watches the metric the
function emits, notifying a KMS-encrypted topic."""
from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from countersign.evidence.vigilance import METRICS


@pytest.fixture(scope="module")
def template(synthesized) -> Template:
    return Template.from_stack(synthesized.stack)


def watch(template: Template) -> tuple[str, dict]:
    [(logical, fn)] = [(k, v) for k, v in template.find_resources("AWS::Lambda::Function").items()
                       if v["Properties"]["Handler"] == "lambdas.vigilance.handler"]
    return logical, fn["Properties"]


def test_an_hourly_schedule_runs_the_watch_over_30_days_of_the_trail(template):
    logical, props = watch(template)
    rules = [r["Properties"] for r in template.find_resources("AWS::Events::Rule").values()
             if logical in json.dumps(r["Properties"].get("Targets", []))]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 hour)"]
    assert props["Environment"]["Variables"]["VIGILANCE_WINDOW_DAYS"] == "30"
    assert props["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "Countersign"


def test_the_watch_reads_execution_records_and_can_write_nothing(template):
    logical, props = watch(template)
    role = props["Role"]["Fn::GetAtt"][0]
    [policy] = [p["Properties"]["PolicyDocument"] for p in template.find_resources("AWS::IAM::Policy").values()
                if {"Ref": role} in p["Properties"]["Roles"]]
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                       "xray:PutTelemetryRecords", "s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    [get] = [s for s in policy["Statement"] if s["Action"] == "s3:GetObject"]
    assert [r["Fn::Join"][1][1] for r in get["Resource"]] == ["/executions/*", "/canaries/*"]   # decisions only


def test_one_alarm_per_flag_fires_when_any_reviewer_carries_it_and_tells_the_ops_topic(template):
    alarms = {a["Properties"]["MetricName"]: a["Properties"]
              for a in template.find_resources("AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") in METRICS.values()}
    assert sorted(alarms) == sorted(["RubberStampReviewers", "FastReviewers", "MissedCanaryReviewers"])
    topics = template.find_resources("AWS::SNS::Topic")
    for alarm in alarms.values():
        assert (alarm["Namespace"], alarm["Dimensions"]) == ("Countersign", [{"Name": "service", "Value": "countersign"}])
        assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Maximum", 3600, 1)
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
        assert alarm["TreatMissingData"] == "notBreaching" and "countersign report vigilance" in alarm["AlarmDescription"]
        [action] = alarm["AlarmActions"]
        assert alarm["OKActions"] == [action]                  # when it fires, and when it clears
        topic = topics[action["Ref"]]["Properties"]
        assert "KmsMasterKeyId" in topic and topic["DisplayName"] == "Countersign ops"
    assert "rubber" not in alarms["FastReviewers"]["AlarmDescription"]
    assert "98% of 50+ decisions" in alarms["RubberStampReviewers"]["AlarmDescription"]


def test_a_topic_passed_in_is_told_and_no_topic_is_created():
    from aws_cdk import App, Stack
    from aws_cdk import aws_sns as sns

    from countersign.sandbox.synth import context
    from stacks.audit_trail import AuditTrail
    from stacks.functions import Functions
    from stacks.vigilance import Vigilance

    stack = Stack(App(context=context()), "Host")
    ops = sns.Topic(stack, "Ops")
    Vigilance(stack, "Vigilance", functions=Functions(stack, "Functions", powertools_layer_version=1,
                                                              retain_logs=False),
                      audit=AuditTrail(stack, "Audit", retention_days=1, lock_mode="GOVERNANCE"), alarm_topic=ops)
    template = Template.from_stack(stack)
    assert list(template.find_resources("AWS::SNS::Topic")) == [stack.get_logical_id(ops.node.default_child)]
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert [a["Properties"]["AlarmActions"] for a in alarms] == [[{"Ref": stack.get_logical_id(ops.node.default_child)}]] * 3
