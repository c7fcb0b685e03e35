"""The kill switch reaches what is already waiting (Art. 14(4)(e)): it is read wherever an action
would proceed. ``halt``: nothing more runs (staged results are discarded, no further tier is asked,
a recorded decision is kept on the record but not carried out). ``human``: what would proceed with
no human (a closing veto window, an auto-approval, a staging step) goes to a human first."""
from __future__ import annotations

import json

from tests.faults.conftest import executor_runs
from tests.helpers import decide, proposal, review_id_of, review_link, unique
from tests.workflows.test_escalation import emails_about, wait_for


def action(kind: str) -> dict:
    return {"type": kind, "summary": f"{kind} while the stop button is pressed", "parameters": {}}


def verdict(stack, arn: str) -> dict:
    done = stack.wait(arn, timeout=20)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def closing(stack, arn: str) -> dict:
    return next(r for r in stack.execution_records(arn) if r["event"] == "verdict_issued")


def test_halt_while_a_veto_window_is_open_refuses_the_action_when_it_closes(stack, kill_switch):
    arn = stack.start(proposal(confidence=0.8, action=action("vetoed.runs")), unique("halt-veto"))
    review_id_of(stack, arn)
    kill_switch("halt")
    result = verdict(stack, arn)
    assert result["outcome"] == "halted" and result["final_action"] is None
    assert executor_runs(arn) == ([], [])
    assert "kill switch is on (halt)" in closing(stack, arn)["note"]


def test_human_while_a_veto_window_is_open_sends_the_action_to_a_human_before_it_runs(stack, kill_switch):
    arn = stack.start(proposal(confidence=0.8, action=action("vetoed.runs")), unique("human-veto"))
    first = review_id_of(stack, arn)
    kill_switch("human")
    held = wait_for(lambda: [r for r in stack.execution_records(arn)
                             if r["event"] == "review_requested" and r["review_id"] != first], timeout=10)
    assert held[0]["reason"] == "the kill switch sends every action to a human" and executor_runs(arn) == ([], [])
    link = stack.wait_for_email("alice", held[0]["review_id"]).links[0]
    assert decide(stack, link, "approve", "Checked while the switch was on.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "approved" and executor_runs(arn) == (["execute"], ["execute"])
    assert stack.states_entered(arn)[2:6] == ["VetoWindow", "Unvetoed", "HoldForHuman", "RequestReview"]


def test_halt_during_a_tier_asks_no_further_tier(stack, kill_switch):
    tiered = {"type": "tiered.change", "summary": "Firewall change under a halt", "parameters": {}}
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=tiered), unique("halt-tier"))
    wait_for(lambda: emails_about(stack, arn, "alice"))
    kill_switch("halt")
    assert verdict(stack, arn)["outcome"] == "halted"
    assert not emails_about(stack, arn, "bob")
    assert [r["event"] for r in stack.execution_records(arn)][-2:] == ["escalated", "verdict_issued"]


def approved_after_halt(stack, kill_switch, kind: str, confidence: float) -> tuple[str, dict]:
    """alice approves after the switch went to halt: (execution, verdict)."""
    arn = stack.start(proposal(confidence=confidence, action=action(kind)), unique("halt-approve"))
    link = review_link(stack, arn)
    kill_switch("halt")
    assert decide(stack, link, "approve", "Looks right.").status == 200
    return arn, verdict(stack, arn)


def test_an_approval_after_halt_is_recorded_but_not_executed(stack, kill_switch):
    arn, result = approved_after_halt(stack, kill_switch, "runs.action", 0.5)
    assert result["outcome"] == "halted" and result["reviewers"][0]["id"] == "alice"
    assert executor_runs(arn) == ([], [])
    events = [r["event"] for r in stack.execution_records(arn)]
    assert "decision_recorded" in events and "action_executed" not in events
    assert closing(stack, arn)["decided_by"] == "alice"


def test_halt_discards_a_staged_result_even_when_it_is_signed_off(stack, kill_switch):
    arn, result = approved_after_halt(stack, kill_switch, "staged.report", 0.99)
    assert result["outcome"] == "halted" and result["execution"]["result"]["phase"] == "discard"
    assert executor_runs(arn) == (["stage", "discard"], ["stage", "discard"])


def test_human_sends_a_staging_step_to_a_human_before_anything_runs(stack, kill_switch):
    kill_switch("human")
    arn = stack.start(proposal(confidence=0.99, action=action("staged.report")), unique("human-stage"))
    review_id_of(stack, arn)
    assert stack.states_entered(arn)[:3] == ["Prepare", "Route", "RequestReview"]
    assert executor_runs(arn) == ([], [])
    stack.sfn.stop_execution(executionArn=arn)
