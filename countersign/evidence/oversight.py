"""The oversight report's facts: is the human oversight working, and is the autonomy earned?

From the trail's records (and the deployed policy, when it could be read):

- per action type: the calibration curve (confidence band against the observed override rate,
  with its 95% Wilson interval), the deployed and effective thresholds, and the threshold history
  (every ``autonomy_changed`` / ``autonomy_demoted``);
- the review load per day and the time to decision (p50, p95);
- the reviewer vigilance table with its flags (``vigilance.watch``), and who needs attention;
- override reasons and rationales, grouped by action type.

Pure functions over parsed records; ``countersign report oversight`` reads and writes.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from countersign.evidence import history, vigilance
from countersign.evidence.compliance.figures import bounded, percentile, times_to_decision
from countersign.rules.autonomy import AUTONOMY, thresholds_of
from countersign.rules.calibration import OVERRIDES, wilson_interval

BANDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))      # 0.50-0.55 ... 0.95-1.00; below 0.5 is one band
RATIONALES = 10                                                   # the latest per action type


def _band(confidence: float) -> float:
    return max([b for b in BANDS if b <= confidence], default=0.0)


def curve(rows: list[history.HistoryRow]) -> list[dict[str, Any]]:
    """Confidence bands with their decisions, overrides, rate and 95% Wilson interval."""
    counts: dict[float, list[int]] = {}
    for row in rows:
        tally = counts.setdefault(_band(row.confidence), [0, 0])
        tally[0] += 1
        tally[1] += row.outcome in OVERRIDES
    found = []
    for low in sorted(counts):
        n, k = counts[low]
        lower, upper = wilson_interval(k, n)
        found.append({"band": f"{low:.2f}-{(low + 0.05 if low else 0.5):.2f}", "low": low, "n": n, "overrides": k,
                      "rate": k / n, "lower": lower, "upper": upper})
    return found


def threshold_history(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every autonomy change per action type, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for r in sorted((r for r in records if r.get("event") in ("autonomy_changed", "autonomy_demoted")),
                    key=lambda r: r["recorded_at"]):
        found.setdefault(r["target"], []).append({
            "at": r["recorded_at"], "kind": r["kind"], "from": r["from"], "to": r["to"],
            "by": r.get("decided_by") or r["actor"], "execution": r.get("execution"),
            "policy_version": r["policy"]["version"]})
    return found


def _thresholds(policy: dict[str, Any] | None, changes: list[dict[str, Any]], action_type: str) -> dict[str, Any]:
    deployed = None
    if policy and action_type in policy.get("action_types", {}):
        t = thresholds_of(policy, action_type)
        deployed = {"auto_approve_threshold": t.auto, "veto_threshold": t.veto}
    effective = changes[-1]["to"] if changes else deployed
    return {"deployed": deployed, "effective": effective}


def assemble(records: list[dict[str, Any]], policy: dict[str, Any] | None) -> dict[str, Any]:
    rows = [r for r in history.decisions(records) if not r.canary]
    changes = threshold_history(records)
    rationale = {r.get("review_id"): r.get("rationale") for r in records if r.get("event") == "decision_recorded"}
    types = sorted({r.action_type for r in rows} | set(changes)
                   | {t for t in (policy or {}).get("action_types", {}) if t != AUTONOMY})
    per_type = []
    for action_type in types:
        mine = [r for r in rows if r.action_type == action_type]
        overridden = [r for r in mine if r.outcome in OVERRIDES]
        per_type.append({
            "action_type": bounded(action_type, "action_type"), "decisions": len(mine),
            "overrides": len(overridden), **_thresholds(policy, changes.get(action_type, []), action_type),
            "curve": curve(mine), "history": changes.get(action_type, []),
            "reasons": sorted(Counter(r.reason or "none given" for r in overridden).items(), key=lambda x: (-x[1], x[0])),
            "rationales": [{"outcome": r.outcome, "reason": r.reason, "reviewer": r.reviewer, "at": r.decided_at,
                            "rationale": bounded(rationale.get(r.review_id) or "", "rationale")}
                           for r in overridden[-RATIONALES:][::-1]]})
    seconds = [t["seconds"] for t in times_to_decision(records)]
    lines = vigilance.watch(history.decisions(records))
    return {
        "schema": "countersign.oversight/1",
        "decisions": len(rows),
        "action_types": per_type,
        "load": [{"day": day, "decisions": n} for day, n in sorted(Counter(r.decided_at[:10] for r in rows).items())],
        "time_to_decision": {"reviews": len(seconds), "p50_seconds": percentile(seconds, 0.5),
                             "p95_seconds": percentile(seconds, 0.95)},
        "vigilance": [line.to_dict() for line in lines],
        "attention": [{"reviewer": a.reviewer, "action_type": a.action_type, "flags": list(a.flags)}
                      for a in vigilance.attention(lines)],
        "thresholds": {"rubber_stamp": {"rate": vigilance.RUBBER_STAMP_RATE, "min": vigilance.RUBBER_STAMP_MIN},
                       "fast_seconds": vigilance.FAST_SECONDS},
    }
