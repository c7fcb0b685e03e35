"""Routing facts: effective risk and reversibility, the spot-check draw, and the rule order."""
from __future__ import annotations

import dataclasses

import pytest

from countersign.policy import Rules
from countersign.routing import effective_reversible, effective_risk, expected_route, facts, spot_check_draw

RULES = Rules("ticket.reply", "v1", 0.9, 60, ("alice",), {}, risk="medium", reversible=True,
              always_human=("high", "critical"), veto_threshold=0.75, spot_check_rate=0.05)


@pytest.mark.parametrize("declared, policy, expected", [
    (None, "medium", "medium"), ("low", "medium", "medium"), ("critical", "medium", "critical"), ("high", "low", "high")])
def test_a_proposal_can_raise_its_risk_but_never_lower_it(declared, policy, expected):
    assert effective_risk(declared, dataclasses.replace(RULES, risk=policy)) == expected


@pytest.mark.parametrize("declared, policy, expected", [
    (None, True, True), (None, False, False), (False, True, False), (True, False, False)])
def test_a_proposal_can_declare_itself_irreversible_but_never_reversible(declared, policy, expected):
    assert effective_reversible(declared, dataclasses.replace(RULES, reversible=policy)) is expected


def test_the_spot_check_share_holds_over_a_seeded_stream_of_executions():
    arns = [f"arn:aws:states:eu-west-1:111122223333:execution:gate:run-{i}" for i in range(20_000)]
    for rate in (0.01, 0.05, 0.25):
        rules = dataclasses.replace(RULES, spot_check_rate=rate)
        share = sum(facts({}, rules, arn, "off")["spot_check"] for arn in arns) / len(arns)
        sigma = (rate * (1 - rate) / len(arns)) ** 0.5
        assert abs(share - rate) < 4 * sigma, (rate, share)     # the stream is fixed, so this never flakes
    assert spot_check_draw(arns[0], "v1") == spot_check_draw(arns[0], "v1")      # reproducible for an auditor
    assert spot_check_draw(arns[0], "v1") != spot_check_draw(arns[0], "v2")


@pytest.mark.parametrize("confidence, changes, route", [
    (0.95, {}, "auto"),
    (0.8, {}, "veto_window"),
    (0.75, {}, "veto_window"),
    (0.7499, {}, "human_review"),
    (0.95, {"kill_switch": "human"}, "human_review"),
    (0.95, {"kill_switch": "halt"}, "halted"),
    (0.95, {"kill_switch": "sideways"}, "halted"),            # an unknown switch value fails closed
    (0.99, {"reversible": False}, "human_review"),
    (0.99, {"risk": "high"}, "human_review"),
])
def test_expected_route_follows_the_choice_states_order(confidence, changes, route):
    kill = changes.pop("kill_switch", "off")
    proposal = {k: v for k, v in changes.items()}
    route_facts = facts(proposal, RULES, "arn:aws:states:r:1:execution:gate:fixed-0", kill)
    route_facts["spot_check"] = False
    assert expected_route(confidence, RULES, route_facts)[0] == route
