"""Countersign's events, observed on moto's EventBridge through a rule, as a pipeline would
subscribe: one per review requested, decision recorded and verdict issued, each naming its audit
record, carrying no token; and a bus that refuses them does not hold up a decision."""
from __future__ import annotations

import json
import uuid

import boto3
import pytest

from countersign.rules.validation import load_schema, validate
from countersign.sandbox import lambda_runtime
from countersign.workflow.announce import (DECISION_RECORDED, EXAMPLE_PATTERN, REVIEW_REQUESTED, SOURCE,
                                           VERDICT_ISSUED)
from tests.helpers import decide, proposal, review_link, unique

SCHEMA = load_schema("event-detail.v1.json")


@pytest.fixture
def subscribe(stack):
    """A rule on the default bus with ``pattern``, delivering to an SQS queue; returns a reader."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    made = []

    def rule(pattern: dict):
        name = f"countersign-test-{uuid.uuid4().hex[:8]}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
        made.append(name)

        def read(execution_arn: str) -> list[dict]:
            got = []
            while True:
                batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    return [e for e in got if e["detail"]["execution"]["arn"] == execution_arn]
                got += [json.loads(m["Body"]) for m in batch]
        return read

    yield rule
    for name in made:
        events.remove_targets(Rule=name, Ids=["queue"])
        events.delete_rule(Name=name)


def _records(stack, arn: str) -> dict[str, dict]:
    return {r["event"]: r for r in stack.execution_records(arn)}


def test_a_human_decision_is_announced_three_times_each_naming_its_audit_record(stack, subscribe):
    read = subscribe({"source": [SOURCE]})
    arn = stack.start(proposal(), unique("events"))
    link = review_link(stack, arn)
    assert decide(stack, link, "reject", "Not a duplicate charge.").status == 200
    assert stack.wait(arn)["status"] == "SUCCEEDED"

    seen = read(arn)
    assert [e["detail-type"] for e in seen] == [REVIEW_REQUESTED, DECISION_RECORDED, VERDICT_ISSUED]
    records = _records(stack, arn)
    for event, audited in zip(seen, ("review_requested", "decision_recorded", "verdict_issued")):
        validate(event["detail"], SCHEMA)
        assert event["source"] == "countersign" and event["resources"] == [arn]
        assert event["detail"]["id"] == records[audited]["hash"] == event["detail"]["audit"]["hash"]
        assert event["detail"]["execution"]["arn"] == arn and event["detail"]["action_type"] == "refund.issue"
    requested, decided, verdict = (e["detail"] for e in seen)
    assert (requested["mode"], requested["tier"], requested["reviewers"]) == ("review", 1, ["alice", "bob", "carol"])
    assert (decided["decision"], decided["reviewer"]) == ("rejected", "alice")
    assert (verdict["outcome"], verdict["decided_by"], verdict["route"]) == ("rejected", "alice", "human_review")

    # no task token, no link, no rationale, no AI-written text
    item = boto3.client("dynamodb").get_item(TableName=stack.table, Key={
        "pk": {"S": f"REVIEW#{requested['review_id']}"}, "sk": {"S": "REVIEW"}})["Item"]
    raw = json.dumps(seen)
    for secret in (item["task_token"]["S"], link.split("t=")[1], "Not a duplicate charge", "Duplicate charge on"):
        assert secret not in raw


def test_the_documented_example_rule_matches_verdicts_of_its_action_type_only(stack, subscribe):
    read = subscribe(EXAMPLE_PATTERN)
    refund = stack.start(proposal(confidence=0.97), unique("example"))
    other = stack.start(proposal(confidence=0.97, action={"type": "notice.send", "summary": "Notice",
                                                          "parameters": {}}), unique("example"))
    assert stack.wait(refund)["status"] == stack.wait(other)["status"] == "SUCCEEDED"
    verdicts = read(refund)
    assert [(e["detail-type"], e["detail"]["outcome"]) for e in verdicts] == [(VERDICT_ISSUED, "auto_approved")]
    assert read(other) == []


def test_a_bus_that_refuses_events_does_not_hold_up_the_decision(stack, subscribe, capsys):
    read = subscribe({"source": [SOURCE]})
    dispatcher = stack.deployment.function_name("lambdas.dispatcher")
    lambda_runtime.ENV_OVERRIDES.setdefault(dispatcher, {})["EVENT_BUS_NAME"] = "no-such-bus"
    lambda_runtime.reset()
    try:
        arn = stack.start(proposal(), unique("nobus"))
        assert decide(stack, review_link(stack, arn), "approve", "").status == 200
        done = stack.wait(arn)
    finally:
        del lambda_runtime.ENV_OVERRIDES[dispatcher]["EVENT_BUS_NAME"]
        lambda_runtime.reset()
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["outcome"] == "approved"
    assert [r["event"] for r in stack.execution_records(arn)] == [
        "proposal_received", "review_requested", "decision_recorded", "verdict_issued"]
    assert [e["detail-type"] for e in read(arn)] == [REVIEW_REQUESTED, VERDICT_ISSUED]
    assert '"EventsNotPublished"' in capsys.readouterr().out       # counted, and alarmed on
