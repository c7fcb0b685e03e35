"""Oversight routing from the real ASL: risk and reversibility, the HOTL veto window, spot checks
and the kill switch. The Choice state decides; the audit trail says which rule fired."""
from __future__ import annotations

import json
import time

import pytest

from tests.helpers import decide, proposal, review_id_of, review_link, unique


def action(kind: str) -> dict:
    return {"type": kind, "summary": f"{kind} for a test", "parameters": {}}


def run(stack, doc: dict, prefix: str) -> str:
    return stack.start(doc, unique(prefix))


def verdict(stack, arn: str, timeout: float = 15) -> dict:
    done = stack.wait(arn, timeout=timeout)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def received(stack, arn: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in stack.execution_records(arn):
            if record["event"] in ("proposal_received", "refused_request"):
                return record
        time.sleep(0.02)
    raise TimeoutError("no proposal_received record")


def test_a_missing_risk_takes_the_policy_default(stack):
    low_default = {k: v for k, v in proposal(confidence=0.97).items() if k != "risk"}
    arn = run(stack, low_default, "risk-default")
    assert verdict(stack, arn)["outcome"] == "auto_approved"
    assert received(stack, arn)["facts"]["risk"] == "medium"
    risky = {**{k: v for k, v in proposal(confidence=0.97).items() if k != "risk"}, "action": action("payout.risky")}
    arn = run(stack, risky, "risk-policy")
    review_id_of(stack, arn)
    record = received(stack, arn)
    assert record["facts"]["risk"] == "high" and record["expected_route"] == "human_review"
    assert record["route_reason"] == "risk high always needs a human under this policy"


def test_a_proposal_cannot_lower_its_risk_or_make_itself_reversible(stack):
    arn = run(stack, proposal(confidence=0.99, risk="low", action=action("payout.risky")), "lower")
    assert received(stack, arn)["facts"]["risk"] == "high"
    assert stack.states_entered(arn)[:3] == ["Prepare", "Route", "RequestReview"]
    arn = run(stack, proposal(confidence=0.99, reversible=True, action=action("wipe.irreversible")), "reversible")
    assert received(stack, arn)["facts"]["reversible"] is False


def test_an_irreversible_action_at_099_still_goes_to_a_human(stack):
    arn = run(stack, proposal(confidence=0.99, reversible=False), "irreversible")
    link = review_link(stack, arn)
    page = stack.http("GET", link).body
    assert "refund.issue is irreversible: a human decides before it runs" in page
    assert decide(stack, link, "approve", "checked").status == 200
    assert verdict(stack, arn)["outcome"] == "approved"


def test_a_threshold_of_1_never_auto_approves_even_a_claimed_confidence_of_1(stack):
    arn = run(stack, proposal(confidence=1.0, action=action("never.auto")), "never-auto")
    link = review_link(stack, arn)
    assert "never.auto never auto-approves (threshold 1): a human decides" in stack.http("GET", link).body
    assert received(stack, arn)["expected_route"] == "human_review"
    assert stack.states_entered(arn)[:3] == ["Prepare", "Route", "RequestReview"]
    stack.sfn.stop_execution(executionArn=arn)


def test_a_declared_critical_risk_goes_to_a_human(stack):
    arn = run(stack, proposal(confidence=0.99, risk="critical"), "critical")
    review_id_of(stack, arn)
    assert received(stack, arn)["route_reason"] == "risk critical always needs a human under this policy"


def test_the_veto_window_proceeds_when_nobody_vetoes(stack):
    arn = run(stack, proposal(confidence=0.8, action=action("notice.send")), "unvetoed")
    email = stack.wait_for_email("alice", review_id_of(stack, arn))
    assert "Veto window open" in email.subject and "Window ends:" in email.body
    result = verdict(stack, arn)
    assert result["outcome"] == "auto_approved" and result["route"] == "veto_window"
    assert result["final_action"]["type"] == "notice.send"
    assert stack.states_entered(arn) == ["Prepare", "Route", "VetoWindow", "Unvetoed", "HoldForHuman", "Act",
                                         "Conclude"]


@pytest.mark.parametrize("confidence, route", [(0.7, "VetoWindow"), (0.69, "RequestReview"), (0.9, "Conclude")])
def test_the_veto_band_boundaries(stack, confidence, route):
    arn = run(stack, proposal(confidence=confidence, action=action("notice.send")), "band")
    deadline = time.monotonic() + 10
    while len(stack.states_entered(arn)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stack.states_entered(arn)[2] == route


def test_a_veto_inside_the_window_rejects_and_one_after_it_is_refused(stack):
    arn = run(stack, proposal(confidence=0.8, action=action("notice.send")), "veto")
    link = review_link(stack, arn, "bob")
    page = stack.http("GET", link).body
    assert "Veto: stop this action" in page and 'value="modify"' not in page
    assert decide(stack, link, "reject", "Wrong audience.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "vetoed" and result["final_action"] is None and result["route"] == "veto_window"

    late = run(stack, proposal(confidence=0.8, action=action("notice.send")), "veto-late")
    late_link = review_link(stack, late, "bob")
    assert verdict(stack, late)["outcome"] == "auto_approved"
    refused = stack.http("GET", late_link)
    assert refused.status == 403 and "expired" in refused.body


def test_spot_checks_send_an_auto_zone_proposal_to_a_human(stack):
    arn = run(stack, proposal(confidence=0.99, action=action("sample.everything")), "spot")
    review_id_of(stack, arn)
    record = received(stack, arn)
    assert record["facts"]["spot_check"] is True and record["route_reason"].startswith("spot check: 100%")


def test_the_kill_switch_halts_new_actions_or_sends_them_all_to_a_human(stack, kill_switch):
    kill_switch("halt")
    arn = run(stack, proposal(confidence=0.99), "halted")
    done = stack.wait(arn)
    assert done["status"] == "FAILED" and done["error"] == "Countersign.Halted"
    record = received(stack, arn)
    assert record["event"] == "refused_request" and record["route_reason"].startswith("the kill switch is on")

    kill_switch("human")
    arn = run(stack, proposal(confidence=0.99), "all-human")
    review_id_of(stack, arn)
    assert received(stack, arn)["route_reason"] == "the kill switch sends every action to a human"

    kill_switch("off")
    assert verdict(stack, run(stack, proposal(confidence=0.99), "back"))["outcome"] == "auto_approved"
