"""Executors from the real ASL: the final (possibly modified) action is executed, a failure is
audited and surfaced, post-execution review stages then promotes or discards, and HOTL post-hoc
executes first and can be reversed by the compensation."""
from __future__ import annotations

import json

from tests.helpers import decide, proposal, review_id_of, review_link, unique


def action(kind: str, **parameters) -> dict:
    return {"type": kind, "summary": f"{kind} for a test", "parameters": parameters}


def verdict(stack, arn: str) -> dict:
    done = stack.wait(arn, timeout=15)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def events(stack, arn: str) -> list[str]:
    return [r["event"] for r in stack.execution_records(arn)]


def test_an_auto_approved_action_is_executed(stack):
    arn = stack.start(proposal(confidence=0.97, action=action("runs.action", amount=5)), unique("exec"))
    result = verdict(stack, arn)
    assert result["outcome"] == "auto_approved"
    assert result["execution"]["status"] == "succeeded"
    assert result["execution"]["result"] == {"phase": "execute", "type": "runs.action", "parameters": {"amount": 5},
                                             "staged": None}
    assert events(stack, arn) == ["proposal_received", "action_executed", "auto_approved"]


def test_the_executor_receives_the_modified_action(stack):
    arn = stack.start(proposal(confidence=0.5, action=action("runs.action", amount=420)), unique("exec-mod"))
    assert decide(stack, review_link(stack, arn), "modify", "Half only.", parameters='{"amount": 210}').status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "modified" and result["execution"]["result"]["parameters"] == {"amount": 210}


def test_an_executor_failure_is_caught_audited_and_surfaced(stack):
    arn = stack.start(proposal(confidence=0.97, action=action("runs.broken")), unique("exec-fail"))
    result = verdict(stack, arn)
    assert result["outcome"] == "auto_approved"
    assert result["execution"]["status"] == "failed" and result["execution"]["error"] == "RuntimeError"
    assert "payment provider is unavailable" in result["execution"]["message"]
    failed = [r for r in stack.execution_records(arn) if r["event"] == "execution_failed"]
    assert failed and failed[0]["function"].endswith(":countersign-test-broken")


def test_post_execution_review_stages_then_promotes_on_sign_off(stack):
    arn = stack.start(proposal(confidence=0.99, action=action("staged.report", quarter="Q3")), unique("stage"))
    link = review_link(stack, arn)
    page = stack.http("GET", link).body
    assert "Staged result" in page and "Promote the staged result" in page and 'value="modify"' not in page
    assert decide(stack, link, "approve", "Numbers reconcile.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "approved" and result["route"] == "post_execution"
    assert result["execution"]["result"]["phase"] == "promote"
    assert result["execution"]["result"]["staged"]["phase"] == "stage"
    assert stack.states_entered(arn) == ["Prepare", "Route", "Stage", "SignOff", "Decided", "Act", "RunAction",
                                         "Conclude"]


def test_post_execution_review_discards_when_rejected(stack):
    arn = stack.start(proposal(confidence=0.99, action=action("staged.report", quarter="Q4")), unique("discard"))
    assert decide(stack, review_link(stack, arn), "reject", "Wrong quarter.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "rejected" and result["execution"]["result"]["phase"] == "discard"


def test_post_hoc_executes_first_and_a_reverse_runs_the_compensation(stack):
    arn = stack.start(proposal(confidence=0.8, action=action("posthoc.notice")), unique("posthoc"))
    link = review_link(stack, arn)
    assert "you can reverse it" in stack.http("GET", link).body
    assert "action_executed" in events(stack, arn)          # it ran before anyone looked
    assert decide(stack, link, "reject", "Sent to the wrong list.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "reversed" and result["route"] == "post_hoc"
    assert result["execution"]["result"] == {"phase": "compensate", "reversed": "posthoc.notice"}
    assert stack.states_entered(arn) == ["Prepare", "Route", "ExecuteFirst", "ReverseWindow", "Decided", "Act",
                                         "RunAction", "Conclude"]


def test_post_hoc_keeps_the_action_when_nobody_reverses_it(stack):
    arn = stack.start(proposal(confidence=0.8, action=action("posthoc.notice")), unique("kept"))
    review_id_of(stack, arn)
    result = verdict(stack, arn)
    assert result["outcome"] == "auto_approved" and result["route"] == "post_hoc"
    assert result["execution"]["result"]["phase"] == "execute"
    assert stack.states_entered(arn)[-3:] == ["Kept", "Act", "Conclude"]
