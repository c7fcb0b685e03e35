"""Routing facts: effective risk and reversibility, the spot-check draw, and the rule order."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest

from countersign.rules.policy import Rules
from countersign.rules.routing import draw_of, effective_reversible, effective_risk, expected_route, facts, spot_check

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


def keyed(key: bytes = b"the stack's KMS HMAC key"):
    return lambda message: hmac.new(key, message, hashlib.sha256).digest()


def public_draw(arn: str, version: str) -> float:
    """What the draw used to be: a hash of public inputs, which a proposer could compute."""
    return int(hashlib.sha256(f"spot-check|{arn}|{version}".encode()).hexdigest()[:13], 16) / 16 ** 13


def test_the_spot_check_share_holds_over_a_seeded_stream_of_executions():
    arns = [f"arn:aws:states:eu-west-1:111122223333:execution:gate:run-{i}" for i in range(20_000)]
    draws = [spot_check(keyed(), arn, "2026-11-29T10:00:00Z", "v1")["draw"] for arn in arns]
    for rate in (0.01, 0.05, 0.25):
        rules = dataclasses.replace(RULES, spot_check_rate=rate)
        share = sum(facts({}, rules, draw, "off")["spot_check"] for draw in draws) / len(draws)
        sigma = (rate * (1 - rate) / len(arns)) ** 0.5
        assert abs(share - rate) < 4 * sigma, (rate, share)     # the stream is fixed, so this never flakes


def test_a_proposer_choosing_keys_the_public_inputs_never_sample_is_still_sampled():
    prefix = "arn:aws:states:eu-west-1:111122223333:execution:gate:"
    chosen = [f"{prefix}key-{i}" for i in range(40_000) if public_draw(f"{prefix}key-{i}", "v1") >= 0.05][:20_000]
    assert len(chosen) == 20_000                      # keys a proposer would pick to avoid the 5 % check
    share = sum(spot_check(keyed(), arn, "2026-11-29T10:00:00Z", "v1")["draw"] < 0.05 for arn in chosen) / len(chosen)
    assert abs(share - 0.05) < 4 * (0.05 * 0.95 / len(chosen)) ** 0.5
    other = spot_check(keyed(b"another key"), chosen[0], "2026-11-29T10:00:00Z", "v1")
    assert other["draw"] != spot_check(keyed(), chosen[0], "2026-11-29T10:00:00Z", "v1")["draw"]   # needs the key


def test_the_draw_is_reproducible_from_its_recorded_mac_and_bound_to_its_inputs():
    first = spot_check(keyed(), "arn:x", "2026-11-29T10:00:00Z", "v1")
    assert first == spot_check(keyed(), "arn:x", "2026-11-29T10:00:00Z", "v1")
    assert first["draw"] == draw_of(base64.b64decode(first["mac"]))
    assert first["message"] == "countersign-spot-check|v1|arn:x|2026-11-29T10:00:00Z|v1"
    assert spot_check(keyed(), "arn:x", "2026-11-29T10:00:01Z", "v1")["draw"] != first["draw"]
    assert spot_check(keyed(), "arn:x", "2026-11-29T10:00:00Z", "v2")["draw"] != first["draw"]


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
    route_facts = facts(proposal, RULES, 0.5, kill)
    route_facts["spot_check"] = False
    assert expected_route(confidence, RULES, route_facts)[0] == route
