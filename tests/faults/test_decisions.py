"""Decisions at the review desk under faults: the approval that completes a quorum decides in the
same write that counts it, a retry is idempotent, a click that lost to the timer is refused as
late and on the record, and every tier's decision is in the trail with its decider."""
from __future__ import annotations

import boto3
from botocore.exceptions import ClientError

from tests.faults.conftest import Crash, deps, events, inject, review_item, stream_attempts, verdict
from tests.helpers import decide, decision_url, form_token, proposal, review_id_of, review_link, unique
from tests.workflows.test_escalation import emails_about, wait_for

S3_DOWN = ClientError({"Error": {"Code": "InternalError", "Message": "We encountered an internal error"}}, "PutObject")


def _two_person(stack, name: str) -> str:
    return stack.start(proposal(confidence=0.99, reversible=False,
                                action={"type": "two.person", "summary": "Rotate the key", "parameters": {}}),
                       unique(name))


def _votes(stack, arn: str) -> list[tuple[str, int]]:
    return [(r["reviewer"], r["approvals"]) for r in stack.execution_records(arn) if r["event"] == "vote_recorded"]


def test_a_vote_is_answered_before_its_audit_and_a_failed_audit_is_retried_by_the_stream_once(stack, dead_letters):
    arn = _two_person(stack, "vote-audit-fault")
    with inject(deps(stack, "lambdas.dispatcher").audit, "put_new", before=S3_DOWN) as tried:
        assert decide(stack, review_link(stack, arn, "alice"), "approve", "Plan checked.").status == 200
    assert len(tried) == 2                               # the stream delivered it again after the failure
    assert _votes(stack, arn) == [("alice", 1)] and dead_letters() == []
    assert decide(stack, review_link(stack, arn, "bob"), "approve", "Agreed.").status == 200
    assert verdict(stack, arn)["outcome"] == "approved"
    trail = events(stack, arn)
    assert _votes(stack, arn) == [("alice", 1), ("bob", 2)] and trail.count("decision_recorded") == 1
    assert trail.index("vote_recorded") < trail.index("decision_recorded")


def test_a_vote_whose_audit_outlasts_the_stream_retries_is_written_before_the_decision(stack, dead_letters):
    arn = _two_person(stack, "vote-audit-lost")
    attempts = stream_attempts(stack)
    with inject(deps(stack, "lambdas.dispatcher").audit, "put_new", before=S3_DOWN, times=attempts) as tried:
        assert decide(stack, review_link(stack, arn, "alice"), "approve", "Plan checked.").status == 200
    assert len(tried) == attempts and _votes(stack, arn) == []
    assert [d["requestContext"]["condition"] for d in dead_letters()] == ["RetryAttemptsExhausted"]
    assert decide(stack, review_link(stack, arn, "bob"), "approve", "Agreed.").status == 200
    result = verdict(stack, arn)
    assert [(r["id"], r["decision"]) for r in result["reviewers"]] == [("alice", "approved"), ("bob", "approved")]
    trail = events(stack, arn)         # alice's vote, missing, is written first, then bob's, then the decision
    assert _votes(stack, arn) == [("alice", 1), ("bob", 2)] and trail.count("decision_recorded") == 1
    assert trail.index("vote_recorded") < trail.index("decision_recorded")


def test_a_quorum_completing_approval_retried_after_a_dropped_answer_is_200_and_counted_once(stack):
    arn = _two_person(stack, "quorum-retry")
    assert decide(stack, review_link(stack, arn, "alice"), "approve", "Plan checked.").status == 200
    bob = review_link(stack, arn, "bob")
    form = {"t": form_token(stack.http("GET", bob).body), "decision": "approve", "rationale": "Agreed."}
    assert stack.http("POST", decision_url(bob), form).status == 200    # its answer never reached bob
    assert review_item(stack, review_id_of(stack, arn))["status"]["S"] in ("DECIDED", "DISPATCHING", "DISPATCHED")
    retry = stack.http("POST", decision_url(bob), form)
    assert retry.status == 200 and "already recorded" in retry.body
    result = verdict(stack, arn)
    assert result["outcome"] == "approved"
    assert [(r["id"], r["decision"]) for r in result["reviewers"]] == [("alice", "approved"), ("bob", "approved")]
    trail = events(stack, arn)
    assert trail.count("vote_recorded") == 2 and trail.count("decision_recorded") == 1


def test_a_click_that_loses_to_the_timer_is_refused_as_late_and_recorded(stack):
    arn = stack.start(proposal(), unique("late-click"))
    link = review_link(stack, arn, "bob")
    page = stack.http("GET", link).body
    review_id = review_id_of(stack, arn)
    assert deps(stack, "lambdas.conclude").reviews.expire(review_id).status == "EXPIRED"   # the timer won
    late = stack.http("POST", decision_url(link), {"t": form_token(page), "decision": "approve", "rationale": "ok"})
    assert late.status == 409 and "the review window closed" in late.body and "was not recorded" in late.body
    [record] = [r for r in stack.execution_records(arn) if r["event"] == "late_decision"]
    assert record["reviewer"] == "bob" and record["review_id"] == review_id and record["status"] == 409
    boto3.client("stepfunctions").stop_execution(executionArn=arn)


def test_two_tiers_the_deciding_tier_is_on_the_record_and_the_verdict_names_the_decider(stack):
    tiered = {"type": "tiered.change", "summary": "Change the firewall rule", "parameters": {}}
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=tiered), unique("two-tiers"))
    bob = wait_for(lambda: emails_about(stack, arn, "bob"), timeout=10)
    assert decide(stack, bob[0].links[0], "reject", "The partner never asked for this.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "rejected" and result["rationale"] == "The partner never asked for this."
    records = stack.execution_records(arn)
    tier1, tier2 = [r["review_id"] for r in records if r["event"] == "review_requested"]
    assert tier1 != tier2 and result["review_id"] == tier2
    [decided] = [r for r in records if r["event"] == "decision_recorded"]
    assert decided["reviewer"] == "bob" and decided["review_id"] == tier2 and tier2 in decided["event_key"]
    [closing] = [r for r in records if r["event"] == "verdict_issued"]
    assert closing["review_id"] == tier2 and closing["decided_by"] == "bob"
    assert closing["reviewers"] == [{"id": "bob", "decision": "rejected", "rationale": "The partner never asked for this.",
                                     "decided_at": decided["decided_at"]}]
    assert [r["event"] for r in records] == ["proposal_received", "review_requested", "escalated", "review_requested",
                                             "decision_recorded", "verdict_issued"]


def test_a_crash_of_the_review_api_after_its_write_keeps_the_decision(stack):
    arn = stack.start(proposal(), unique("api-crash"))
    link = review_link(stack, arn)
    page = stack.http("GET", link).body
    form = {"t": form_token(page), "decision": "reject", "rationale": "Not a duplicate.", "reason": "wrong_action"}
    with inject(deps(stack, "lambdas.review_api").reviews, "write_vote", after=Crash("after the write")):
        assert stack.http("POST", decision_url(link), form).status >= 500
    assert stack.http("POST", decision_url(link), form).status == 200      # the retry is answered
    assert verdict(stack, arn)["outcome"] == "rejected"
    assert events(stack, arn).count("decision_recorded") == 1
