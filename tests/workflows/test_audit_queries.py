"""The trail's questions as SQL: the named queries' own text, run by DuckDB over what the real
workflow wrote, give exactly the decisions this test made (Athena runs the same SQL at scale)."""
from __future__ import annotations

import json

import boto3
import pytest

from countersign.cli import client

from countersign.evidence import trail
from countersign.evidence.audit_queries import run_local
from tests.helpers import decide, proposal, review_link, unique

REFUND = {"type": "refund.issue", "summary": "Refund for SQL", "parameters": {"customer_id": "7", "amount": 30,
                                                                             "currency": "EUR"}}


@pytest.fixture(scope="module")
def answers(stack):
    started = {how: stack.start(proposal(action=REFUND, confidence=0.97 if how == "auto" else 0.5), unique(f"sql-{how}"))
               for how in ("auto", "approve", "modify", "reject")}
    started["expire"] = stack.start(proposal(action={"type": "quick.timeout", "summary": "x", "parameters": {}}),
                                    unique("sql-expire"))
    started["refuse"] = stack.start(proposal(confidence=1.5), unique("sql-refuse"))
    decide(stack, review_link(stack, started["approve"], "alice"), "approve", "Fine.")
    decide(stack, review_link(stack, started["modify"], "bob"), "modify", "Less.",
           parameters=json.dumps({"customer_id": "7", "amount": 20, "currency": "EUR"}))
    decide(stack, review_link(stack, started["reject"], "carol"), "reject", "No.")
    for arn in started.values():
        stack.wait(arn, timeout=20)
    names = [arn.rsplit(":", 1)[1] for arn in started.values()]
    target = client.Target(stack.deployment.stack_name, stack.deployment.outputs, boto3.session.Session())
    mine = [o for o in trail.read(target) if any(f"/{name}/" in o.key for name in names)]
    return {**run_local(mine), "objects": mine}


def test_decisions_by_outcome_and_route(answers):
    assert answers["decisions_by_outcome"] == [
        {"action_type": "quick.timeout", "outcome": "expired", "route": "human_review", "n": 1},
        {"action_type": "refund.issue", "outcome": "approved", "route": "human_review", "n": 1},
        {"action_type": "refund.issue", "outcome": "auto_approved", "route": "auto", "n": 1},
        {"action_type": "refund.issue", "outcome": "modified", "route": "human_review", "n": 1},
        {"action_type": "refund.issue", "outcome": "rejected", "route": "human_review", "n": 1}]


def test_override_rate_time_to_decision_expiries_and_refusals(answers):
    assert answers["override_rate"] == [{"action_type": "refund.issue", "decisions": 3, "modified": 1, "rejected": 1,
                                         "override_rate": 0.6667}]
    [timing] = answers["time_to_decision"]
    assert timing["action_type"] == "refund.issue" and timing["reviews"] == 3
    assert 0 <= timing["p50_seconds"] <= timing["p90_seconds"] < 60
    assert answers["expiries_and_escalations"] == [{"action_type": "quick.timeout", "event": "escalated", "n": 1},
                                                   {"action_type": "quick.timeout", "event": "expired", "n": 1}]
    assert answers["refusals_by_reason"] == [{"reason": "invalid proposal", "n": 1}]


def test_the_packs_figures_from_the_sql_equal_those_from_the_records(stack, answers):
    """One definition: the pack computed by reading records, and from the named queries (as
    --athena gets them), agree on every count; percentiles are the engine's, so within a second."""
    from countersign.evidence.compliance import figures

    read, queried = figures.summarise(figures.records_of(answers["objects"])), figures.from_queries(answers)
    for figure in read:
        if figure != "time_to_decision":
            assert queried[figure] == read[figure], figure
    timing, expected = queried["time_to_decision"], read["time_to_decision"]
    assert timing["reviews"] == expected["reviews"] == 3 and timing["histogram"] == expected["histogram"]
    assert abs(timing["p50_seconds"] - expected["p50_seconds"]) < 1


def test_the_decision_history_from_the_sql_equals_the_history_from_the_records(answers):
    """The history the calibrator and the vigilance watch read, on what the real workflow wrote."""
    from countersign.evidence import history
    from countersign.evidence.compliance.figures import records_of

    read = history.decisions(records_of(answers["objects"]))
    assert read == history.from_query(answers["decisions"])
    assert sorted((r.outcome, r.reviewer, r.route, r.spot_check, r.canary) for r in read) == [
        ("approved", "alice", "human_review", False, False), ("modified", "bob", "human_review", False, False),
        ("rejected", "carol", "human_review", False, False)]
    assert all(r.dwell_seconds is not None and r.dwell_seconds >= 0 for r in read)
    assert {r.policy_version for r in read} == {json.loads(answers["objects"][0].body)["policy"]["version"]}
