"""The facts of the evidence pack, assembled from ``sources.Sources``: the workflows' oversight
states and human gates per path (``asl``), the escalation criteria and who holds authority
(``policy``), retention against the six-month minimum, the ``audit verify`` result, the trail's
figures and the EU AI Act checklist. The result is ``evidence.json`` and what the page shows."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from countersign.workflow import asl
from countersign.rules.policy import rules_for
from countersign.evidence.verify import Report
from countersign.evidence.compliance import figures
from countersign.evidence.compliance.checklist import checklist

SCHEMA = "countersign.compliance-evidence/1"
MINIMUM_DAYS = 183          # six months: EU AI Act Art. 19(1) (providers) and Art. 26(6) (deployers)
GATE_KINDS = {"human_review": "hitl", "veto_window": "hotl_veto", "post_hoc": "hotl_post_hoc",
              "post_execution": "post_execution_review"}


def _payload(state: dict[str, Any]) -> dict[str, Any]:
    return (state.get("Parameters") or state.get("Arguments") or {}).get("Payload") or {}


def _condition(rule: dict[str, Any]) -> str:
    """A Choice rule's condition, readably."""
    if "And" in rule or "Or" in rule:
        joiner = " and " if "And" in rule else " or "
        return "(" + joiner.join(_condition(r) for r in rule.get("And") or rule.get("Or")) + ")"
    if "Not" in rule:
        return "not " + _condition(rule["Not"])
    ops = {"NumericGreaterThanEqualsPath": "≥", "NumericGreaterThanEquals": "≥", "StringEquals": "=",
           "BooleanEquals": "=", "IsPresent": "is present:"}
    for op, sign in ops.items():
        if op in rule:
            value = rule[op] if isinstance(rule[op], str) and rule[op].startswith("$") else repr(rule[op]).lower()
            return f"{rule.get('Variable')} {sign} {value}"
    return " ".join(f"{k} {v}" for k, v in rule.items() if k != "Next")


def _auto_rule(rule: dict[str, Any]) -> bool:
    inner = rule.get("And") or [rule]
    return any(r.get("NumericGreaterThanEqualsPath") == "$.policy.auto_approve_threshold" for r in inner)


def workflow(name: str, source: str, definition: dict[str, Any], budget: int = asl.DEFAULT_MAX_GATES) -> dict[str, Any]:
    """Which states implement each kind of oversight, and the human gates on every path."""
    states = definition["States"]
    kinds: dict[str, list[dict[str, str]]] = {k: [] for k in ("hitl", "hotl_veto", "hotl_post_hoc", "hootl",
                                                              "post_execution_review", "unclassified_gates")}
    for state_name, state in states.items():
        if asl.is_gate(state):
            kind = GATE_KINDS.get(_payload(state).get("route"), "unclassified_gates")
            kinds[kind].append({"state": state_name, "how": state.get("Comment") or "waits for a task token"})
        for rule in state.get("Choices", []):
            if _auto_rule(rule) and not asl.is_gate(states.get(rule["Next"], {})):
                kinds["hootl"].append({"state": rule["Next"], "how": f"{state_name}: {_condition(rule)}"})
    found = asl.paths(definition)
    return {"name": name, "source": source, **kinds,
            "paths": [{"path": p.describe(), "gates": list(p.gates)} for p in found],
            "max_gates_on_a_path": max((len(p.gates) for p in found), default=0), "budget": budget,
            "within_budget": all(len(p.gates) <= budget for p in found)}


def escalation(policy: dict[str, Any] | None, registry: list[str] | None) -> list[dict[str, Any]]:
    """Per action type: what sends it to a human, and who decides at each tier."""
    if not policy:
        return []
    rows = []
    for action_type in sorted(policy.get("action_types", {})):
        rules = rules_for(policy, action_type, registry or [])
        tiers = [{"tier": i + 1, "reviewers": list(t["reviewers"]) or (["(all configured reviewers: not read)"]),
                  "timeout_seconds": t["timeout_seconds"]} for i, t in enumerate(rules.tiers)]
        rows.append({"action_type": action_type, "auto_approve_threshold": rules.auto_approve_threshold,
                     "veto_threshold": rules.veto_threshold, "hotl": rules.hotl if rules.veto_threshold is not None
                     else None, "veto_window_seconds": rules.veto_window_seconds, "risk": rules.risk,
                     "always_human": list(rules.always_human), "reversible": rules.reversible,
                     "spot_check_rate": rules.spot_check_rate, "post_execution_review": rules.post_execution_review,
                     "executor": bool(rules.executor), "quorum": rules.quorum, "tiers": tiers,
                     "reminder_before_seconds": rules.reminder_before_seconds})
    return rows


def retention(lock: dict[str, Any] | None) -> dict[str, Any]:
    if not lock:
        return {"mode": None, "days": None, "minimum_days": MINIMUM_DAYS, "meets_minimum": None}
    days = int(lock["days"])
    return {"mode": lock["mode"], "days": days, "minimum_days": MINIMUM_DAYS, "meets_minimum": days >= MINIMUM_DAYS,
            "shortenable": lock["mode"] != "COMPLIANCE"}


NOT_CHECKED = {"intact": None, "records": None, "streams": None, "digests": None, "pending": None, "problems": [],
               "note": "not checked in this run: the figures came from Athena; run countersign audit verify"}


def assemble(src: Any, report: Report | None, period: dict[str, str | None], now: datetime, target: str | None,
             queried: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The pack's facts. ``report`` is audit verify's (None: not checked); ``queried``: the named
    queries' rows, when the trail's figures come from Athena instead of the records."""
    facts = {
        "schema": SCHEMA,
        "generated_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "period": period,
        "target": target,
        "sources": src.origin,
        "missing": src.missing,
        "integrity": report.as_dict() if report else NOT_CHECKED,
        "workflows": [workflow(w["name"], w["source"], w["definition"]) for w in src.workflows],
        "policy_version": (src.policy or {}).get("version"),
        "registry": src.registry,
        "reviewers": src.people,
        "escalation": escalation(src.policy, src.registry),
        "kill_switch": {"state": src.kill_switch},
        "logging": {"events": sorted(_events()), "retention": retention(src.lock),
                    "where": src.origin.get("trail"), "digests": report.digests if report else None},
        "figures": figures.from_queries(queried) if queried is not None else
        figures.summarise(figures.records_of(src.objects)),
    }
    facts["checklist"] = checklist(facts)
    return facts


def _events() -> set[str]:
    from countersign.evidence.audit import EVENTS

    return set(EVENTS)
