"""What `countersign mcp` offers agents, without a server: tool names and descriptions from the
policy, the proposal a call makes, and the bounded wait's ends."""
from __future__ import annotations

import threading

import pytest

from countersign.cli import agent_tools, follow
from countersign.rules.proposal import InvalidProposal

EXECUTOR = "arn:aws:lambda:us-east-1:123456789012:function:run-it"


def policy(**types) -> dict:
    return {"default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 7200, "reversible": True},
            "action_types": types, "version": "v1"}


def test_names_descriptions_and_what_is_listed():
    tools = agent_tools.catalogue(policy(**{
        "refund.issue": {"executor": EXECUTOR, "description": "Refund a charge.", "veto_threshold": 0.7,
                         "veto_window_seconds": 3600},
        "email.bulk_send": {"executor": EXECUTOR, "reversible": False, "reviewers": ["role:comms", "alice"],
                            "quorum": 2},
        "notice.send": {}, "policy.autonomy": {"executor": EXECUTOR}}), max_wait=120)
    assert list(tools) == ["email_bulk_send", "refund_issue", "countersign_wait", "countersign_status"]
    assert tools["refund_issue"].description == (
        "Refund a charge. Policy: a human decides below confidence 0.9; from 0.7 it goes ahead after 1 h unless "
        "vetoed. Reviewers: any configured reviewer, 2 h to decide; no decision in time refuses it. On approval "
        "Countersign runs it (its executor) and returns the executor's result; refused, nothing runs. A call waits "
        "up to 2 min, then returns the review, pending, to continue with countersign_wait.")
    assert tools["email_bulk_send"].description.startswith(
        "Propose a email.bulk_send action. Policy: irreversible: a human always decides. Reviewers: anyone with "
        "role comms, alice, 2 h to decide, 2 approvals needed;")
    advisory = agent_tools.catalogue(policy(**{"notice.send": {"risk": "high"}}), advisory=True)
    assert "high risk: a human always decides" in advisory["notice_send"].description
    assert "Advisory: Countersign does not run this action." in advisory["notice_send"].description


def test_two_types_with_one_tool_name_are_refused():
    with pytest.raises(agent_tools.Collision, match="'a.b_c' and 'a_b.c' both make the tool name 'a_b_c'"):
        agent_tools.catalogue(policy(**{"a.b_c": {"executor": EXECUTOR}, "a_b.c": {"executor": EXECUTOR}}))


def test_a_call_makes_a_proposal_with_the_client_as_unverified_evidence():
    tool = agent_tools.catalogue(policy(**{"refund.issue": {"executor": EXECUTOR, "parameters": {
        "type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}}}))["refund_issue"]
    arguments = {"parameters": {"amount": 3}, "confidence": 0.5, "summary": "Refund 3", "reasoning": "dup",
                 "evidence": [], "idempotency_key": "k-1"}
    made = agent_tools.proposal_for(tool, arguments, {"name": "pipeline:billing", "version": "1"})
    assert made == {"schema_version": "1", "action": {"type": "refund.issue", "summary": "Refund 3",
                                                      "parameters": {"amount": 3}},
                    "confidence": 0.5, "reasoning": "dup", "idempotency_key": "k-1", "evidence": [
                        {"label": "MCP client (declared by the client, unverified)", "value": "pipeline:billing 1"}]}
    assert "requested_by" not in made                       # never the requester
    with pytest.raises(InvalidProposal) as refused:
        agent_tools.proposal_for(tool, {**arguments, "parameters": {"amount": "3"}}, None)
    assert refused.value.errors == [{"path": "$.parameters.amount", "message": "$.parameters.amount must be number"}]


def test_the_bounded_sleep_ends_a_wait_at_max_wait_or_when_stopped():
    now = [0.0]
    stop = threading.Event()
    sleep = follow.bounded_sleep(stop, until=1.0, clock=lambda: now[0])
    now[0] = 0.5
    sleep(0)                                                 # before the bound: returns
    now[0] = 1.0
    with pytest.raises(follow.Interrupted) as ended:
        sleep(0)
    assert ended.value.reason == "max_wait"
    stop.set()
    with pytest.raises(follow.Interrupted) as ended:
        follow.bounded_sleep(stop, until=99.0, clock=lambda: 0.0)(5)
    assert ended.value.reason == "cancelled"
