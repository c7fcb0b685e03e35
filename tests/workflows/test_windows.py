"""Every waiting state tells reviewers the workflow's own timer: the deadline in the trail, the
link, the email and the page equals the moment the gate's TimeoutSecondsPath fires. Each action
type here has a window that differs from its review timeout, so a gate that used the wrong one
would show."""
from __future__ import annotations

import json

import pytest

from countersign.review.notify import deadline_text
from tests.helpers import proposal, review_id_of, unique

GATES = {"RequestReview": "human_review", "VetoWindow": "veto_window", "SignOff": "post_execution",
         "ReverseWindow": "post_hoc"}


@pytest.mark.parametrize("kind, confidence, gate, seconds", [
    ("refund.issue", 0.5, "RequestReview", 3600),
    ("tiered.long", 0.5, "RequestReview", 800),          # the first tier's timeout, not the review timeout
    ("veto.long", 0.8, "VetoWindow", 900),               # the veto window, not the review timeout
    ("posthoc.long", 0.8, "ReverseWindow", 600),         # the reverse window, not the review timeout
    ("staged.long", 0.99, "SignOff", 700),
])
def test_the_deadline_reviewers_see_is_the_workflows_timer(stack, kind, confidence, gate, seconds):
    action = {"type": kind, "summary": f"{kind} window", "parameters": {"customer_id": "1", "amount": 5,
                                                                         "currency": "USD"} if kind == "refund.issue" else {}}
    arn = stack.start(proposal(confidence=confidence, action=action), unique("window"))
    review_id = review_id_of(stack, arn)
    entered = next(e for e in stack.history(arn) if e.get("stateEnteredEventDetails", {}).get("name") == gate)
    timer = json.loads(entered["stateEnteredEventDetails"]["input"])["windows"][GATES[gate]]
    definition = json.loads(stack.sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)["definition"])
    assert definition["States"][gate]["TimeoutSecondsPath"] == f"$.windows.{GATES[gate]}" and timer == seconds
    fires_at = int(entered["timestamp"].timestamp()) + timer
    [requested] = [r for r in stack.execution_records(arn) if r["event"] == "review_requested"]
    assert abs(requested["deadline"] - fires_at) <= 1 and requested["deadline"] <= entered["timestamp"].timestamp() + timer
    email = stack.wait_for_email("alice", review_id)
    link = email.links[0]
    assert int(link.split("?t=", 1)[1].split(".")[2]) == requested["deadline"]       # the link expires with it
    assert deadline_text(requested["deadline"]) in email.body
    assert deadline_text(requested["deadline"]) in stack.http("GET", link).body
    stack.sfn.stop_execution(executionArn=arn)
