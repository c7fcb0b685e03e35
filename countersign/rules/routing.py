"""Routing facts: what the workflow's Choice state routes on, established by Prepare.

The Choice state in ``statemachines/approval_gate.asl.json`` makes the decision. Prepare only
computes what JSONPath cannot: the effective risk and reversibility (a proposal may make its
action riskier, never safer), whether that risk always needs a human, the spot-check draw and the
kill switch. ``expected_route`` mirrors the Choice rule by rule, to say which rule fired (on the
review page and in the audit trail); a test holds the two to the same answer.
"""
from __future__ import annotations

import base64
from typing import Any, Callable

from countersign.rules.policy import RISKS, Rules

KILL_OFF, KILL_HUMAN, KILL_HALT = "off", "human", "halt"
KILL_MODES = (KILL_OFF, KILL_HUMAN, KILL_HALT)
KILL_SWITCH_CACHE_SECONDS = 5   # how long a function may act on the switch as it last read it
# the workflow's route → the review's mode (what the reviewer is asked), and back
MODES = {"human_review": "review", "veto_window": "veto", "post_execution": "signoff", "post_hoc": "reverse"}
ROUTE_OF_MODE = {mode: route for route, mode in MODES.items()}


def effective_risk(declared: str | None, rules: Rules) -> str:
    if declared is None:
        return rules.risk
    return max(declared, rules.risk, key=RISKS.index)


def effective_reversible(declared: bool | None, rules: Rules) -> bool:
    return rules.reversible if declared is None else (rules.reversible and declared)


def spot_check_message(execution_arn: str, started_at: str, policy_version: str, purpose: str = "spot-check") -> bytes:
    return f"countersign-{purpose}|v1|{execution_arn}|{started_at}|{policy_version}".encode()


def spot_check(mac: Callable[[bytes], bytes], execution_arn: str, started_at: str,
               policy_version: str, purpose: str = "spot-check") -> dict[str, Any]:
    """The spot-check draw: a uniform number in [0, 1) from a keyed MAC (the stack's KMS HMAC key)
    over the execution and its start time. The proposer cannot compute it, so it cannot pick a key
    that is never sampled; an auditor with ``kms:VerifyMac`` re-checks the recorded MAC and
    recomputes the draw from it. The message is domain-separated from review links, and by
    ``purpose`` from the other draws made for the same execution (``canary_draw``)."""
    message = spot_check_message(execution_arn, started_at, policy_version, purpose)
    digest = mac(message)
    return {"message": message.decode(), "mac": base64.b64encode(digest).decode(), "draw": draw_of(digest)}


def draw_of(mac: bytes) -> float:
    return int.from_bytes(mac[:8], "big") / 2 ** 64


def canary_draw(mac: Callable[[bytes], bytes], execution_arn: str, started_at: str,
                rules: Rules) -> dict[str, Any] | None:
    """Whether a review of this execution is also sent a canary, and which definition: the same
    keyed draw as the spot check (purpose ``canary``). ``draw < canary_rate`` sends one; the next
    eight bytes of the MAC pick the definition and the one after decides which email goes first,
    so an auditor recomputes all three from the recorded MAC. None when no canary is sent."""
    if rules.canary_rate <= 0 or not rules.canaries:
        return None
    drawn = spot_check(mac, execution_arn, started_at, rules.version, purpose="canary")
    if drawn["draw"] >= rules.canary_rate:
        return None
    return {**drawn, **canary_pick(base64.b64decode(drawn["mac"]), len(rules.canaries))}


def canary_pick(mac: bytes, definitions: int) -> dict[str, Any]:
    """The definition (``index``) and the order of the two emails (``canary_first``), from the MAC."""
    return {"index": int.from_bytes(mac[8:16], "big") % definitions, "canary_first": bool(mac[16] & 1)}


def facts(proposal: dict[str, Any], rules: Rules, draw: float, kill_switch: str) -> dict[str, Any]:
    risk = effective_risk(proposal.get("risk"), rules)
    return {
        "risk": risk,
        "reversible": effective_reversible(proposal.get("reversible"), rules),
        "always_human": risk in rules.always_human,
        "spot_check": draw < rules.spot_check_rate,
        "spot_check_draw": round(draw, 6),
        "kill_switch": kill_switch if kill_switch in KILL_MODES else KILL_HALT,   # unknown value: fail closed
    }


def expected_route(confidence: float, rules: Rules, route_facts: dict[str, Any]) -> tuple[str, str]:
    """(route, the rule that fired, in words), in the Choice state's order."""
    threshold = f"{rules.auto_approve_threshold:g}"
    kill = route_facts["kill_switch"]
    if kill == KILL_HALT:
        return "halted", "the kill switch is on: new actions are halted"
    if kill == KILL_HUMAN:
        return "human_review", "the kill switch sends every action to a human"
    if rules.post_execution_review:
        return "post_execution", f"{rules.action_type} runs into staging first; a human signs off before it is promoted"
    if not route_facts["reversible"]:
        return "human_review", f"{rules.action_type} is irreversible: a human decides before it runs"
    if route_facts["always_human"]:
        return "human_review", f"risk {route_facts['risk']} always needs a human under this policy"
    # A threshold of 1 never auto-approves: a self-reported confidence of 1.0 is no evidence (the ASL agrees).
    if confidence >= rules.auto_approve_threshold and rules.auto_approve_threshold < 1:
        if route_facts["spot_check"]:
            return "human_review", (f"spot check: {rules.spot_check_rate:.0%} of auto-approvable {rules.action_type} "
                                    f"proposals are reviewed at random (confidence {confidence:g})")
        return "auto", f"confidence {confidence:g} meets the auto-approve threshold {threshold}"
    if rules.veto_threshold is not None and confidence >= rules.veto_threshold and rules.hotl == "post_hoc":
        return "post_hoc", (f"confidence {confidence:g} is in the veto band ({rules.veto_threshold:g} to {threshold}): "
                            f"it runs now and can be reversed until the window closes")
    if rules.veto_threshold is not None and confidence >= rules.veto_threshold:
        return "veto_window", (f"confidence {confidence:g} is in the veto band ({rules.veto_threshold:g} to {threshold}): "
                               f"it proceeds when the window closes unless vetoed")
    if rules.auto_approve_threshold >= 1:
        return "human_review", f"{rules.action_type} never auto-approves (threshold 1): a human decides"
    return "human_review", f"confidence {confidence:g} is below the auto-approve threshold {threshold} for {rules.action_type}"
