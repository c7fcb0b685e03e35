"""Tiered escalation with reminders, from the real ASL: tier 1 times out, tier 2 is asked, and
after the last tier the action is refused. Reminders come from the scheduled sweep, invoked here
the way EventBridge invokes it."""
from __future__ import annotations

import json
import time

import boto3

from tests.helpers import decide, proposal, unique

TIERED = {"type": "tiered.change", "summary": "Change the firewall rule for the partner VPN", "parameters": {}}
REMINDED = {**TIERED, "type": "tiered.remind"}


def sweep(stack) -> dict:
    """What the EventBridge schedule does: invoke the reminder function with a scheduled event."""
    event = {"version": "0", "id": "sweep", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resources": [], "detail": {}}
    got = boto3.client("lambda").invoke(FunctionName=stack.deployment.function_name("lambdas.reminders"),
                                        Payload=json.dumps(event))
    assert "FunctionError" not in got, got["Payload"].read()
    return json.loads(got["Payload"].read())


def emails_about(stack, arn: str, reviewer: str) -> list:
    name_records = stack.execution_records(arn)
    review_ids = {r["review_id"] for r in name_records if r["event"] == "review_requested"}
    return [e for e in stack.emails() if e.reviewer == reviewer and any(i in e.body for i in review_ids)]


def into_reminder_lead(stack, arn: str, tier: int) -> None:
    """Sleep until half a second into the tier's 3 s reminder lead (2.5 s before its stored
    deadline), however late this test saw the email: a fixed sleep overshot the deadline under
    load, and so did a sweep started half a second before it."""
    requested = wait_for(lambda: [r for r in stack.execution_records(arn)
                                  if r["event"] == "review_requested" and r["tier"] == tier])
    time.sleep(max(0.0, requested[0]["deadline"] - 2.5 - time.time()))


def wait_for(predicate, timeout: float = 8):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError("condition not reached")


def test_tier_one_times_out_tier_two_is_asked_then_it_fails_closed_with_reminders(stack):
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=REMINDED), unique("tiers"))
    wait_for(lambda: emails_about(stack, arn, "alice"))
    assert not emails_about(stack, arn, "bob")
    into_reminder_lead(stack, arn, tier=1)            # inside tier 1's reminder lead, before its deadline
    assert sweep(stack)["reminded"] >= 1
    assert any(e.subject.startswith("Reminder: ") for e in emails_about(stack, arn, "alice"))
    bob = wait_for(lambda: emails_about(stack, arn, "bob"))
    assert "escalated to tier 2" in bob[0].body and emails_about(stack, arn, "carol")
    into_reminder_lead(stack, arn, tier=2)
    assert sweep(stack)["reminded"] >= 1
    result = json.loads(stack.wait(arn, timeout=10)["output"])
    assert result["outcome"] == "expired" and result["final_action"] is None
    assert stack.states_entered(arn) == ["Prepare", "Route", "RequestReview", "Escalate", "NextTier",
                                         "RequestReview", "Escalate", "NextTier", "Act", "Conclude"]
    events = [r["event"] for r in stack.execution_records(arn)]
    assert events == ["proposal_received", "review_requested", "reminder_sent", "escalated", "review_requested",
                      "reminder_sent", "escalated", "expired"]
    assert sum(e.subject.startswith("Reminder: ") for e in emails_about(stack, arn, "bob")) == 1
    assert sweep(stack)["reminded"] == 0                  # nothing left to remind: each is sent once


def test_tier_two_can_decide_after_the_escalation(stack):
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=TIERED), unique("tier2"))
    carol = wait_for(lambda: emails_about(stack, arn, "carol"), timeout=10)
    assert decide(stack, carol[0].links[0], "approve", "Partner confirmed the new range.").status == 200
    result = json.loads(stack.wait(arn)["output"])
    assert result["outcome"] == "approved" and result["reviewers"][0]["id"] == "carol"
    alice_link = emails_about(stack, arn, "alice")[0].links[0]
    assert stack.http("GET", alice_link).status == 403      # tier 1's link died with its deadline
