"""Graduated autonomy: calibrated thresholds that sit beside the deployed policy.

The deployed policy (CDK context, stored in SSM) is never rewritten at run time. Changes the
calibrator makes, or that reviewers approve, are *adjustments*: per action type, an
``auto_approve_threshold`` and a ``veto_threshold`` (or none). The effective policy is the deployed
one with the adjustments laid over it; its ``version`` hashes both, so every audit record names
exactly the thresholds that routed it, and a later ``cdk deploy`` (which writes only the deployed
policy) never silently undoes an approved change.

A loosening reaches the adjustments only through the gate: the calibrator proposes the built-in
action type ``policy.autonomy`` and its approval (by a quorum of humans; the built-in type never
auto-approves) applies it. Tightening, and demotion on drift, apply at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from countersign.rules import canonical
from countersign.rules.policy import AUTONOMY

NEVER = 1.0                  # the highest threshold the policy can express


@dataclass(frozen=True)
class Thresholds:
    """One action type's boundaries: auto-approve from ``auto``, the HOTL band from ``veto``."""
    auto: float
    veto: float | None = None    # None: no HOTL band

    @property
    def band_floor(self) -> float:
        """Where human review ends: the veto threshold, or the auto threshold without a band."""
        return self.auto if self.veto is None else self.veto


CALIBRATOR = "system:calibrator"
TIMEOUT_SECONDS = 7 * 86400          # a week to gather a quorum for an autonomy change
RISK = "high"                        # who may approve one: reviewers with authority up to high, or above

# What a policy.autonomy proposal carries. The reviewer may edit the two thresholds (modify), within
# these bounds; ``basis`` is the effective thresholds the recommendation was computed against, so an
# approval that arrives after a demotion or another change cannot apply (it would undo it).
PARAMETERS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action_type", "auto_approve_threshold", "veto_threshold", "basis"],
    "properties": {
        "action_type": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$", "maxLength": 64},
        "auto_approve_threshold": {"type": "number", "minimum": 0.5, "maximum": 1},
        "veto_threshold": {"type": ["number", "null"], "minimum": 0.5, "maximum": 1},
        "basis": {
            "type": "object", "additionalProperties": False,
            "required": ["auto_approve_threshold", "veto_threshold", "policy_version"],
            "properties": {"auto_approve_threshold": {"type": "number"},
                           "veto_threshold": {"type": ["number", "null"]},
                           "policy_version": {"type": "string", "maxLength": 64}}},
    },
}


def builtin_rules(reviewers: list[str], quorum: int) -> dict[str, Any]:
    """The built-in action type's rules: always a human quorum, never auto-approved, no executor
    (the workflow's Conclude step applies an approved change). It inherits nothing from
    ``default``, so no deployment setting can give it an executor or an auto-approve threshold."""
    return {"auto_approve_threshold": NEVER, "review_timeout_seconds": TIMEOUT_SECONDS, "risk": RISK,
            "reversible": True, "reviewers": reviewers, "quorum": quorum, "parameters": PARAMETERS,
            "spot_check_rate": 0.0}


def thresholds_of(document: dict[str, Any], action_type: str) -> Thresholds:
    """An action type's (auto, veto) thresholds in a policy document (deployed or effective)."""
    rules = {**({} if action_type == AUTONOMY else document["default"]), **document["action_types"][action_type]}
    auto, veto = float(rules["auto_approve_threshold"]), rules.get("veto_threshold")
    return Thresholds(auto, None if veto is None or veto >= auto else float(veto))   # an empty band is none


def effective(document: dict[str, Any], adjustments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The deployed document with ``adjustments`` laid over it. Without adjustments it is the
    deployed document itself (same version). An adjustment for an action type the deployed policy
    no longer has is ignored (it cannot route anything)."""
    applied = {t: a for t, a in sorted(adjustments.items()) if t in document["action_types"] and t != AUTONOMY}
    if not applied:
        return document
    action_types = dict(document["action_types"])
    for action_type, adj in applied.items():
        rules = {k: v for k, v in action_types[action_type].items() if k != "veto_threshold"}
        rules["auto_approve_threshold"] = adj["auto_approve_threshold"]
        if adj.get("veto_threshold") is not None:
            rules["veto_threshold"] = adj["veto_threshold"]
        elif document["default"].get("veto_threshold") is not None:
            rules["veto_threshold"] = adj["auto_approve_threshold"]   # an empty band: none in effect
        action_types[action_type] = rules
    thresholds = {t: {"auto_approve_threshold": a["auto_approve_threshold"], "veto_threshold": a.get("veto_threshold")}
                  for t, a in applied.items()}
    version = canonical.sha256({"deployed": document["version"], "adjustments": thresholds})[:12]
    return {**document, "action_types": action_types, "version": version,
            "deployed_version": document["version"], "adjustments": thresholds}


def adjustment(to: Thresholds, kind: str, by: str, at: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """One action type's stored adjustment: the thresholds, and how they came to be."""
    return {"auto_approve_threshold": to.auto, "veto_threshold": to.veto, "kind": kind, "by": by, "at": at,
            "evidence": evidence}


def proposal(action_type: str, to: Thresholds, basis: Thresholds, policy_version: str, deployed: Thresholds,
             evidence_lines: list[dict[str, str]], reason: str) -> dict[str, Any]:
    """The ``policy.autonomy`` proposal for a loosening, with the evidence table on its page.
    Its confidence is 0: nothing about it is the model's, and it never auto-approves anyway."""
    def band(t: Thresholds) -> str:
        return f"auto-approve from {t.auto:g}" + (f", veto window from {t.veto:g}" if t.veto is not None else "")
    return {
        "schema_version": "1",
        "action": {"type": AUTONOMY,
                   "summary": f"Give {action_type} more autonomy: {band(basis)} -> {band(to)}"[:500],
                   "parameters": {"action_type": action_type, "auto_approve_threshold": to.auto,
                                  "veto_threshold": to.veto,
                                  "basis": {"auto_approve_threshold": basis.auto, "veto_threshold": basis.veto,
                                            "policy_version": policy_version}}},
        "confidence": 0,
        "risk": RISK,
        "reversible": True,
        "requested_by": CALIBRATOR,
        "reasoning": (f"The correction history supports it: {reason}. Deployed: {band(deployed)}. "
                      f"In effect now: {band(basis)}. Approving applies {band(to)} beside the deployed policy; "
                      "a later drift in spot checks or overrides demotes it again without asking anyone.")[:10000],
        "evidence": evidence_lines[:50],
    }


def evidence_lines(table: Any, around: float, limit: int = 12) -> list[dict[str, str]]:
    """The evidence table as proposal evidence items: the candidate thresholds nearest ``around``."""
    rows = sorted(table, key=lambda e: (abs(e.threshold - around), e.threshold))[:limit]
    return [{"label": f"confidence >= {e.threshold:g}",
             "value": f"{e.n} decisions, {e.overrides} overrides ({e.rate:.2%}); 95% upper bound {e.upper:.4f}"}
            for e in sorted(rows, key=lambda e: e.threshold)]
