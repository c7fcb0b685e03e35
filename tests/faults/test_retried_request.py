"""The request step retried (an ambiguous Lambda failure after it ran): it derives the same review,
takes the new attempt's task token, and never mails the reviewers twice (Powertools Idempotency).
A retry that finds its review already decided keeps the decision and queues it for the new token."""
from __future__ import annotations

import json

import boto3

from tests.faults.conftest import invoke, review_item
from tests.helpers import decide, proposal, review_id_of, review_link, unique


def retry_request(stack, arn: str, token: str) -> dict:
    """Invoke RequestReview again with the state the workflow gave it, as a Retry would."""
    entered = next(e for e in stack.history(arn)
                   if e.get("stateEnteredEventDetails", {}).get("name") == "RequestReview")
    return invoke(stack, "lambdas.request_review", {
        "case": json.loads(entered["stateEnteredEventDetails"]["input"]), "task_token": token,
        "route": "human_review", "entered_at": entered["timestamp"].isoformat()})


def emails_for(stack, review_id: str) -> list:
    return [e for e in stack.emails() if review_id in e.body]


def test_a_retried_request_reuses_the_review_takes_the_new_token_and_mails_nobody_twice(stack):
    arn = stack.start(proposal(), unique("retry-request"))
    review_id = review_id_of(stack, arn)
    stack.wait_for_email("carol", review_id)
    assert sorted(e.reviewer for e in emails_for(stack, review_id)) == ["alice", "bob", "carol"]
    assert retry_request(stack, arn, "token-of-the-retry")["review_id"] == review_id
    assert sorted(e.reviewer for e in emails_for(stack, review_id)) == ["alice", "bob", "carol"]
    item = review_item(stack, review_id)
    assert item["status"]["S"] == "PENDING" and item["task_token"]["S"] == "token-of-the-retry"
    boto3.client("stepfunctions").stop_execution(executionArn=arn)


def test_a_retried_request_that_finds_its_review_decided_hands_the_decision_to_the_new_token(stack, callbacks):
    arn = stack.start(proposal(), unique("retry-decided"))
    assert decide(stack, review_link(stack, arn), "approve", "ok").status == 200
    review_id = review_id_of(stack, arn)
    assert review_item(stack, review_id)["status"]["S"] == "DISPATCHED"
    assert callbacks == [("alice", True)]
    retry_request(stack, arn, "token-of-the-retry")      # back to DECIDED: the stream dispatches it again
    item = review_item(stack, review_id)
    assert item["task_token"]["S"] == "token-of-the-retry" and item["status"]["S"] == "DISPATCHED"
    assert json.loads(item["decision_json"]["S"])["reviewer"] == "alice"      # the decision stands
    assert callbacks == [("alice", True), ("alice", False)]   # sent to the new token (here: not a live one)
    assert "delivered_at" not in item and len(emails_for(stack, review_id)) == 3
    assert [r["event"] for r in stack.execution_records(arn)].count("decision_recorded") == 1
