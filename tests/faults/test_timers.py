"""A decision that won the review's write is the decision, whatever timer fires.

Each case stores a decision while the dispatcher is held back (its stream delivery crashes
before it claims anything), so the workflow's timer fires first: the timeout branch loses
PENDING → EXPIRED and follows the stored decision, running exactly the executor phase that
decision needs. The reconciler later finds the task closed and records it, never as late."""
from __future__ import annotations

from tests.faults.conftest import dispatcher_down, events, executor_runs, reconcile, verdict
from tests.helpers import decide, proposal, review_id_of, review_link, unique


def action(kind: str) -> dict:
    return {"type": kind, "summary": f"{kind} under a timer race", "parameters": {}}


def decided_before_the_timer(stack, name: str, kind: str, reviewer: str, choice: str, rationale: str,
                             **changes) -> tuple[str, dict]:
    """A decision stored while the dispatcher is down on every delivery: only the timer can move
    the workflow on. Returns the execution and its verdict."""
    arn = stack.start(proposal(action=action(kind), **changes), unique(name))
    with dispatcher_down(stack, times=99):
        assert decide(stack, review_link(stack, arn, reviewer), choice, rationale).status == 200
        return arn, verdict(stack, arn)


def finish(stack, review_id: str, callbacks) -> None:
    sweep = reconcile(stack)
    assert review_id in sweep["reviews"]
    assert callbacks == [(callbacks[0][0], False)]          # the task had closed: nothing sent twice


def test_a_veto_stored_before_the_window_closes_is_followed(stack, callbacks):
    arn, result = decided_before_the_timer(stack, "veto-race", "vetoed.runs", "bob", "reject", "Wrong audience.",
                                           confidence=0.8)
    assert result["outcome"] == "vetoed" and result["final_action"] is None
    assert result["reviewers"][0]["id"] == "bob" and result["rationale"] == "Wrong audience."
    assert stack.states_entered(arn)[2:] == ["VetoWindow", "Unvetoed", "HoldForHuman", "Act", "Conclude"]
    assert executor_runs(arn) == ([], [])                     # a vetoed action never runs
    assert events(stack, arn) == ["proposal_received", "review_requested", "decision_recorded", "verdict_issued"]
    [closing] = [r for r in stack.execution_records(arn) if r["event"] == "verdict_issued"]
    assert closing["decided_by"] == "bob" and "stored decision was followed" in closing["note"]
    finish(stack, review_id_of(stack, arn), callbacks)
    assert "late_decision" not in events(stack, arn)


def test_a_reverse_stored_before_the_window_closes_runs_the_compensation_once(stack, callbacks):
    arn, result = decided_before_the_timer(stack, "reverse-race", "posthoc.notice", "carol", "reject",
                                           "Sent to the wrong list.", confidence=0.8)
    assert result["outcome"] == "reversed" and result["execution"]["result"]["phase"] == "compensate"
    assert stack.states_entered(arn)[2:] == ["ExecuteFirst", "ReverseWindow", "Kept", "Act", "RunAction", "Conclude"]
    assert executor_runs(arn) == (["execute", "compensate"], ["execute", "compensate"])
    finish(stack, review_id_of(stack, arn), callbacks)


def test_a_sign_off_stored_before_the_window_closes_promotes_the_staged_result(stack, callbacks):
    arn, result = decided_before_the_timer(stack, "signoff-race", "staged.quick", "alice", "approve",
                                           "Numbers reconcile.", confidence=0.99)
    assert result["outcome"] == "approved" and result["execution"]["result"]["phase"] == "promote"
    assert stack.states_entered(arn)[2:] == ["Stage", "SignOff", "Expired", "Act", "RunAction", "Conclude"]
    assert executor_runs(arn) == (["stage", "promote"], ["stage", "promote"])   # never discarded
    finish(stack, review_id_of(stack, arn), callbacks)


def test_a_tier_decision_stored_before_its_deadline_is_followed_not_escalated(stack, callbacks):
    arn, result = decided_before_the_timer(stack, "tier-race", "tiered.change", "alice", "approve",
                                           "Partner confirmed.", confidence=0.99, reversible=False)
    assert result["outcome"] == "approved" and result["reviewers"][0]["id"] == "alice"
    assert stack.states_entered(arn)[2:] == ["RequestReview", "Escalate", "NextTier", "Act", "Conclude"]
    assert "escalated" not in events(stack, arn)
    assert not [e for e in stack.emails() if e.reviewer == "bob" and review_id_of(stack, arn) in e.body]
    finish(stack, review_id_of(stack, arn), callbacks)


def test_the_stored_deadline_never_outlives_the_workflows_timer(stack):
    arn = stack.start(proposal(action={"type": "quick.timeout", "summary": "x", "parameters": {}}), unique("clock"))
    review_id = review_id_of(stack, arn)
    entered = next(e["timestamp"] for e in stack.history(arn)
                   if e.get("stateEnteredEventDetails", {}).get("name") == "RequestReview")
    [requested] = [r for r in stack.execution_records(arn) if r["event"] == "review_requested"]
    assert requested["review_id"] == review_id and requested["deadline"] <= int(entered.timestamp()) + 2
    assert verdict(stack, arn)["outcome"] == "expired"
