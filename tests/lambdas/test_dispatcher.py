"""The dispatcher, fed DynamoDB stream records through the deployed function: it audits, calls
the workflow back once, fails a record whose claim another delivery holds, takes over a stale
claim, and ignores records that are not new decisions. Crashes at each step are in tests/faults."""
from __future__ import annotations

import json
import time

import boto3

from tests.helpers import decide, proposal, review_id_of, review_link, unique


def review_item(stack, review_id: str) -> dict:
    return boto3.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"REVIEW#{review_id}"}, "sk": {"S": "REVIEW"}})["Item"]


def stream_event(item: dict, decision: dict | None = None, event_name: str = "MODIFY") -> dict:
    new = {**item, "status": {"S": "DECIDED"}}
    if decision:
        new["decision_json"] = {"S": json.dumps(decision)}
    return {"Records": [{
        "eventID": "1", "eventName": event_name, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
        "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "SequenceNumber": "100",
                     "NewImage": new, "OldImage": {**item, "status": {"S": "PENDING"}},
                     "StreamViewType": "NEW_AND_OLD_IMAGES"}}]}


def invoke_dispatcher(stack, event: dict) -> dict:
    got = boto3.client("lambda").invoke(FunctionName=stack.deployment.function_name("lambdas.dispatcher"),
                                        Payload=json.dumps(event))
    assert "FunctionError" not in got, got["Payload"].read()
    return json.loads(got["Payload"].read())


APPROVE = {"outcome": "approved", "reviewer": "alice", "rationale": "ok", "final_action": None, "diff": [],
           "decided_at": "2026-11-24T10:00:00Z"}


def test_a_redelivered_decision_is_not_dispatched_twice(stack):
    arn = stack.start(proposal(), unique("redeliver"))
    decide(stack, review_link(stack, arn), "approve", "ok")
    assert json.loads(stack.wait(arn)["output"])["outcome"] == "approved"
    review_id = review_id_of(stack, arn)
    item = review_item(stack, review_id)
    assert item["status"]["S"] == "DISPATCHED"
    assert invoke_dispatcher(stack, stream_event(item)) == {"batchItemFailures": []}
    events = [r["event"] for r in stack.execution_records(arn)]
    assert events.count("decision_recorded") == 1 and "late_decision" not in events


def claim(stack, review_id: str, claimed_at: int) -> dict:
    item = review_item(stack, review_id)
    boto3.client("dynamodb").update_item(
        TableName=stack.table, Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET #s = :d, decision_json = :j, claimed_at = :t", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":d": {"S": "DISPATCHING"}, ":j": {"S": json.dumps(APPROVE)},
                                   ":t": {"N": str(claimed_at)}})
    return {**review_item(stack, review_id), "status": {"S": "DECIDED"}}


def test_a_second_delivery_while_another_holds_a_fresh_claim_is_left_to_that_holder(stack):
    arn = stack.start(proposal(), unique("held"))
    review_id = review_id_of(stack, arn)
    image = claim(stack, review_id, int(time.time()))                     # a live dispatcher holds it
    assert invoke_dispatcher(stack, stream_event(image)) == {"batchItemFailures": []}   # acknowledged
    assert stack.wait(arn, timeout=0.3)["status"] == "RUNNING"
    assert "decision_recorded" not in [r["event"] for r in stack.execution_records(arn)]
    assert review_item(stack, review_id)["status"]["S"] == "DISPATCHING"     # still its holder's
    boto3.client("stepfunctions").stop_execution(executionArn=arn)


def test_a_retry_takes_over_a_claim_whose_dispatcher_died_and_delivers_once(stack):
    arn = stack.start(proposal(), unique("stale"))
    image = claim(stack, review_id_of(stack, arn), int(time.time()) - 600)  # claimed ten minutes ago
    assert invoke_dispatcher(stack, stream_event(image)) == {"batchItemFailures": []}
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    events = [r["event"] for r in stack.execution_records(arn)]
    assert "late_decision" not in events and events.count("decision_recorded") == 1
    [resumed] = [r for r in stack.execution_records(arn) if r["event"] == "dispatch_resumed"]
    assert resumed["claim_age_seconds"] >= 600 and resumed["delivered_before"] is False


def test_records_that_are_not_new_decisions_are_ignored(stack):
    arn = stack.start(proposal(), unique("ignore"))
    review_id = review_id_of(stack, arn)
    item = review_item(stack, review_id)
    assert invoke_dispatcher(stack, stream_event(item, APPROVE, event_name="INSERT")) == {"batchItemFailures": []}
    assert stack.wait(arn, timeout=0.2)["status"] == "RUNNING"
    assert review_item(stack, review_id)["status"]["S"] == "PENDING"
