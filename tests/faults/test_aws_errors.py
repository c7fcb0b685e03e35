"""AWS has a bad minute after a reviewer's click: one failure at each call the decision still
needs (the audit write, the callback, the claim, a follow-up email). Each is retried (by the SDK,
or by the stream after the delivery released its claim) and the execution resumes with exactly
that decision, once, with a complete trail and nothing in the dead-letter queue. A failure that
outlasts every retry lands in the queue, and ``countersign redrive`` replays it once."""
from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

from countersign.cli import commands as cli
from tests.faults.conftest import (answered, deps, events, inject, redeliver, review_item, stream_attempts,
                                   verdict)
from tests.helpers import decide, proposal, review_id_of, review_link, unique
from tests.workflows.test_escalation import emails_about, wait_for


def error(code: str, operation: str) -> ClientError:
    """What the SDK raises once its own retries are spent."""
    return ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)


def dispatcher(stack):
    return deps(stack, "lambdas.dispatcher")


FAULTS = {   # where it fails, how, and the decision clicked: (decision, injection)
    "audit PutObject answers 500 once": (
        "approve", lambda s: answered(dispatcher(s).audit.s3, "PutObject", 500, "InternalError")),
    "audit PutObject, past the SDK's retries": (
        "approve", lambda s: inject(dispatcher(s).audit, "put_new", before=error("InternalError", "PutObject"))),
    "SendTaskSuccess answers 500 once": (
        "approve", lambda s: answered(dispatcher(s).callbacks.sfn, "SendTaskSuccess", 500, "InternalFailure")),
    "SendTaskSuccess throttled once": (
        "approve", lambda s: answered(dispatcher(s).callbacks.sfn, "SendTaskSuccess", 400, "ThrottlingException")),
    "SendTaskFailure throttled once": (
        "reject", lambda s: answered(dispatcher(s).callbacks.sfn, "SendTaskFailure", 400, "ThrottlingException")),
    "SendTaskSuccess, past the SDK's retries": (
        "approve", lambda s: inject(dispatcher(s).callbacks.sfn, "send_task_success",
                                    before=error("ServiceUnavailable", "SendTaskSuccess"))),
    "SendTaskFailure throttled past the SDK's retries": (
        "reject", lambda s: inject(dispatcher(s).callbacks.sfn, "send_task_failure",
                                   before=error("ThrottlingException", "SendTaskFailure"))),
    "the claim, throttled by DynamoDB past the SDK's retries": (
        "approve", lambda s: inject(dispatcher(s).reviews, "claim_dispatch",
                                    before=error("ProvisionedThroughputExceededException", "UpdateItem"))),
    "the claim's UpdateItem throttled once": (
        "approve", lambda s: answered(dispatcher(s).reviews.ddb, "UpdateItem", 400,
                                      "ProvisionedThroughputExceededException")),
}
OUTCOME = {"approve": "approved", "reject": "rejected"}


@pytest.mark.parametrize("where", FAULTS)
def test_one_aws_failure_after_the_click_and_the_decision_counts_exactly_once(stack, callbacks, dead_letters, where):
    choice, fault = FAULTS[where]
    arn = stack.start(proposal(), unique("aws-error"))
    link = review_link(stack, arn)
    review_id = review_id_of(stack, arn)
    with fault(stack) as failed:
        assert decide(stack, link, choice, "Checked against the order.").status == 200
    assert failed                                              # the fault was met (once: see FAULTS)
    result = verdict(stack, arn)
    assert result["outcome"] == OUTCOME[choice] and result["reviewers"][0]["id"] == "alice"
    assert [ok for _, ok in callbacks] == [True]               # called back exactly once
    assert events(stack, arn) == ["proposal_received", "review_requested", "decision_recorded", "verdict_issued"]
    item = review_item(stack, review_id)
    assert item["status"]["S"] == "DISPATCHED" and "delivered_at" in item and "outbox" not in item
    assert dead_letters() == []
    assert redeliver(stack, review_id) == {"batchItemFailures": []} and len(callbacks) == 1


def test_a_follow_up_email_whose_publish_fails_once_reaches_each_reviewer_once(stack):
    """The next tier's request after an escalation: SNS answers 500 once, the SDK retries."""
    tiered = {"type": "tiered.change", "summary": "Open port 22 to the partner", "parameters": {}}
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=tiered), unique("mail-fault"))
    wait_for(lambda: emails_about(stack, arn, "alice"), timeout=10)
    with answered(deps(stack, "lambdas.request_review").notifier.sns, "Publish", 500, "InternalError") as failed:
        bob = wait_for(lambda: emails_about(stack, arn, "bob"), timeout=10)
        wait_for(lambda: emails_about(stack, arn, "carol"), timeout=10)
    assert failed == ["Publish"]
    assert decide(stack, bob[0].links[0], "reject", "The partner never asked for this.").status == 200
    assert verdict(stack, arn)["outcome"] == "rejected"
    assert [len(emails_about(stack, arn, r)) for r in ("alice", "bob", "carol")] == [1, 1, 1]
    assert events(stack, arn) == ["proposal_received", "review_requested", "escalated", "review_requested",
                                  "decision_recorded", "verdict_issued"]


@contextmanager
def states_down(stack):
    """Step Functions refuses every callback the stream's deliveries make."""
    with inject(dispatcher(stack).callbacks.sfn, "send_task_failure", before=error("ServiceUnavailable", "x"),
                times=stream_attempts(stack)) as calls:
        yield calls


def redrive(capsys, stack, code: int = 0) -> dict:
    assert cli.main(["redrive", "--json", "--stack", stack.deployment.stack_name]) == code
    return json.loads(capsys.readouterr().out)


def test_a_failure_that_outlasts_every_retry_lands_in_the_dead_letter_queue_and_redrive_replays_it_once(
        stack, callbacks, dead_letters, capsys):
    arn = stack.start(proposal(), unique("outlasts"))
    link = review_link(stack, arn)
    review_id = review_id_of(stack, arn)
    with states_down(stack) as calls:
        assert decide(stack, link, "reject", "Not a duplicate.").status == 200
    assert len(calls) == stream_attempts(stack) == 9           # the delivery and its 8 retries all failed
    [letter] = dead_letters()
    assert letter["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert letter["DDBStreamBatchInfo"]["batchSize"] == 1 and "task_token" not in json.dumps(letter)
    item = review_item(stack, review_id)
    assert item["status"]["S"] == "DISPATCHING" and "claimed_at" not in item and item["outbox"]["S"] == "due"
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"

    swept = redrive(capsys, stack)
    assert review_id in swept["reviews"] and swept["dead_letters"] == {"cleared": 1, "kept": 0}
    assert swept["resumed"] == 0                               # a released claim is not a takeover
    result = verdict(stack, arn)
    assert result["outcome"] == "rejected" and result["rationale"] == "Not a duplicate."
    assert [ok for _, ok in callbacks] == [True]
    assert events(stack, arn) == ["proposal_received", "review_requested", "decision_recorded", "verdict_issued"]
    assert dead_letters() == []

    again = redrive(capsys, stack)                             # safe to repeat: nothing is sent twice
    assert review_id not in again["reviews"] and again["dead_letters"] == {"cleared": 0, "kept": 0}
    assert len(callbacks) == 1


def test_redrive_keeps_a_dead_letter_while_a_decision_it_may_hold_is_still_undelivered(
        stack, callbacks, dead_letters, capsys):
    arn = stack.start(proposal(), unique("kept"))
    link = review_link(stack, arn)
    with states_down(stack):
        assert decide(stack, link, "reject", "Wrong customer.").status == 200
    with inject(deps(stack, "lambdas.reconciler").callbacks.sfn, "send_task_failure",
                before=error("ServiceUnavailable", "x")):
        failing = redrive(capsys, stack, code=1)                 # Step Functions is still down
    assert failing["failed"] == 1 and failing["dead_letters"] == {"cleared": 0, "kept": 1}
    assert len(dead_letters()) == 1                            # still needed: the decision is undelivered
    swept = redrive(capsys, stack)                             # Step Functions is back
    assert swept["dead_letters"] == {"cleared": 1, "kept": 0} and swept["failed"] == 0
    assert verdict(stack, arn)["outcome"] == "rejected" and [ok for _, ok in callbacks] == [True]


def test_a_review_request_whose_email_fails_past_the_sdks_retries_is_retried_by_the_workflow(stack):
    """SNS refuses the first email past the SDK's retries: the step fails with RequestNotDelivered,
    the workflow's Retry runs it again (a new task token, the same review), and each reviewer is
    mailed once with a link that decides."""
    arn = stack.start(proposal(), unique("request-retry"))
    with inject(deps(stack, "lambdas.request_review").notifier.sns, "publish",
                before=error("InternalError", "Publish")) as calls:
        review_id = review_id_of(stack, arn)
        stack.wait_for_email("carol", review_id, timeout=20)
    assert len(calls) == 4                                    # the refused one, then one per reviewer
    failures = [e["taskFailedEventDetails"] for e in stack.history(arn) if e["type"] == "TaskFailed"]
    assert [(f["error"], json.loads(f["cause"])["errorMessage"]) for f in failures] == [
        ("RequestNotDelivered", "ClientError: an AWS call failed past the SDK's retries")]
    assert sorted(e.reviewer for e in stack.emails() if review_id in e.body) == ["alice", "bob", "carol"]
    assert decide(stack, review_link(stack, arn), "approve", "Checked after the retry.").status == 200
    assert verdict(stack, arn)["outcome"] == "approved"
    assert events(stack, arn) == ["proposal_received", "review_requested", "decision_recorded", "verdict_issued"]


def test_an_intake_audit_write_that_fails_past_the_sdks_retries_is_retried_by_the_workflow(stack):
    """S3 refuses Prepare's proposal_received record past the SDK's retries: the workflow runs the
    step again and the proposal goes on, with its intake on the record once."""
    with inject(deps(stack, "lambdas.prepare").audit, "put_new", before=error("InternalError", "PutObject")) as calls:
        arn = stack.start(proposal(confidence=0.99), unique("intake-retry"))
        assert stack.wait(arn)["status"] == "SUCCEEDED"
    assert len(calls) == 2
    assert [e["taskFailedEventDetails"]["error"] for e in stack.history(arn) if e["type"] == "TaskFailed"] == [
        "ClientError"]
    assert events(stack, arn) == ["proposal_received", "auto_approved"]
