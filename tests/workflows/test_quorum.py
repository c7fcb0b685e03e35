"""Quorum N-of-M and self-approval, from the emailed links through the real workflow."""
from __future__ import annotations

import json

import pytest

from tests.helpers import decide, decision_url, form_token, proposal, review_link, unique

TWO_PERSON = {"type": "two.person", "summary": "Rotate the payments signing key", "parameters": {}}


def start(stack, **changes) -> str:
    return stack.start(proposal(confidence=0.99, reversible=False, action=TWO_PERSON, **changes), unique("quorum"))


def test_two_of_three_approvals_are_needed(stack):
    arn = start(stack)
    first = decide(stack, review_link(stack, arn, "alice"), "approve", "Checked the rotation plan.")
    assert first.status == 200 and "1 of 2 approvals" in first.body
    assert stack.wait(arn, timeout=0.3)["status"] == "RUNNING"
    bob = review_link(stack, arn, "bob")
    assert "Approvals so far" in stack.http("GET", bob).body
    assert decide(stack, bob, "approve", "Agreed.").status == 200
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "approved"
    assert [(r["id"], r["decision"]) for r in verdict["reviewers"]] == [("alice", "approved"), ("bob", "approved")]
    events = [r["event"] for r in stack.execution_records(arn)]
    assert events.count("vote_recorded") == 2 and events.count("decision_recorded") == 1


def test_one_reviewer_never_counts_twice(stack):
    arn = start(stack)
    link = review_link(stack, arn, "alice")
    page = stack.http("GET", link).body                 # alice opens the page once, submits twice
    form = {"t": form_token(page), "decision": "approve", "rationale": "ok"}
    assert stack.http("POST", decision_url(link), form).status == 200
    again = stack.http("POST", decision_url(link), form)       # a retried POST: answered, counted once
    assert again.status == 200 and "already recorded; one reviewer never counts twice" in again.body
    assert "1 of 2 approvals" in again.body
    assert stack.wait(arn, timeout=0.3)["status"] == "RUNNING"
    assert [r["event"] for r in stack.execution_records(arn)].count("vote_recorded") == 1


def test_a_rejection_after_one_approval_rejects(stack):
    arn = start(stack)
    assert decide(stack, review_link(stack, arn, "alice"), "approve", "fine").status == 200
    assert decide(stack, review_link(stack, arn, "carol"), "reject", "Not during the freeze.").status == 200
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "rejected" and verdict["final_action"] is None
    assert [(r["id"], r["decision"]) for r in verdict["reviewers"]] == [("alice", "approved"), ("carol", "rejected")]


def test_the_proposer_cannot_approve_their_own_proposal(stack):
    arn = start(stack, requested_by="user:carol")
    link = review_link(stack, arn, "carol")
    before = {r["hash"] for r in stack.audit_records("refusals/")}
    refused = decide(stack, link, "approve", "Looks good to me.")
    assert refused.status == 403 and "you proposed this action" in refused.body
    [audited] = [r for r in stack.audit_records("refusals/") if r["hash"] not in before]
    assert audited["status"] == 403 and audited["actor"] == "reviewer:carol"
    assert stack.wait(arn, timeout=0.3)["status"] == "RUNNING"


@pytest.mark.parametrize("requested_by", ["Alice", " alice", "alice@example.com", "user:reviewer:alice"])
def test_the_proposer_is_recognised_however_requested_by_is_written(stack, requested_by):
    arn = start(stack, requested_by=requested_by)
    refused = decide(stack, review_link(stack, arn, "alice"), "approve", "Mine, and fine.")
    assert refused.status == 403 and "you proposed this action" in refused.body
    received = next(r for r in stack.execution_records(arn) if r["event"] == "proposal_received")
    assert received["facts"]["proposed_by"] == ["alice"]
    stack.sfn.stop_execution(executionArn=arn)


def test_a_quorum_action_cannot_be_modified(stack):
    arn = start(stack)
    answer = decide(stack, review_link(stack, arn, "bob"), "modify", "smaller", parameters='{"x": 1}')
    assert answer.status == 400 and "cannot be modified" in answer.body
