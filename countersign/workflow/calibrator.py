"""The calibrator at work: the correction history in, adjusted thresholds and autonomy proposals out.

``assess`` is pure: per action type, what the rule (``rules.calibration``) says against what is in
effect. ``run`` acts on it: a tightening or a demotion is written at once (one conditional write of
the adjustments, with its audit record in the same item's journal), a loosening is proposed as a
``policy.autonomy`` review through the gate itself. ``apply_approved`` is what an approved
proposal does, from the workflow's Conclude step. ``flush`` moves journalled audit records into the
trail (and tells the reviewers of a demotion), so a crash between the write and the record loses
nothing: whoever reads the adjustments next finishes it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable

from countersign.evidence import audit
from countersign.rules import canonical
from countersign.rules.autonomy import (AUTONOMY, CALIBRATOR, adjustment, effective, evidence_lines, proposal,
                                        thresholds_of)
from countersign.rules.calibration import NEVER, Decision, DriftCheck, Recommendation, Thresholds, drift_check, recommend
from countersign.rules.policy import checked_document, merged_rules, rules_for

STREAM_PREFIX = "autonomy/"


@dataclass(frozen=True)
class Standing:
    """One action type: deployed, in effect, what the history supports, and what the calibrator does."""

    action_type: str
    deployed: Thresholds
    effective: Thresholds
    recommended: Thresholds
    action: str                  # keep | tighten | demote
    then: Thresholds             # in effect after the action
    propose: bool                # a loosening: a policy.autonomy proposal goes to the gate
    recommendation: Recommendation
    drift: DriftCheck
    decisions: int               # the rows the rule used (since the last demotion)
    proposal: str | None = None  # the policy.autonomy execution that carries the loosening


def _t(t: Thresholds) -> dict[str, Any]:
    return {"auto_approve_threshold": t.auto, "veto_threshold": t.veto}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def assess(deployed: dict[str, Any], adjustments: dict[str, Any], rows: Iterable[Decision],
           only: str | None = None) -> list[Standing]:
    """Apply the rule to every action type (or ``only``) of the deployed policy, on its decisions
    since its last demotion (strictly after its second: a decision in the same second as the
    demotion may be one of those that caused it)."""
    rows = list(rows)
    in_effect = effective(deployed, adjustments)
    found = []
    for action_type in sorted(deployed["action_types"]):
        if action_type == AUTONOMY or (only and action_type != only):
            continue
        rules = merged_rules(in_effect, action_type)
        since = (adjustments.get(action_type) or {}).get("history_since")
        mine = [r for r in rows if r.action_type == action_type and (since is None or r.decided_at > since)]
        now = thresholds_of(in_effect, action_type)
        rec = recommend(action_type, mine, now, target_error=rules["target_error"], min_samples=rules["min_samples"])
        drift = drift_check(action_type, mine, now.auto, target_error=rules["target_error"])
        if drift.demote and now != Thresholds(NEVER):
            action, then = "demote", Thresholds(NEVER)
        elif rec.apply_now != now:
            action, then = "tighten", rec.apply_now
        else:
            action, then = "keep", now
        found.append(Standing(action_type, thresholds_of(deployed, action_type), now, rec.recommended, action, then,
                              rec.needs_human and action != "demote", rec, drift, len(mine)))
    return found


def run(deps: Any, rows: Iterable[Decision], only: str | None = None, act: bool = True) -> list[Standing]:
    """Assess, then (``act``) write tightenings and demotions and propose loosenings."""
    rows = list(rows)
    flush(deps)
    for _ in range(5):                       # re-read and re-assess if another writer got there first
        version, adjustments, journal = deps.autonomy.current()
        deployed = checked_document(deps.load_policy())
        standings = assess(deployed, adjustments, rows, only)
        changes = [s for s in standings if s.action != "keep"]
        if not act or not changes:
            break
        at, after = now_iso(), dict(adjustments)
        entries = []
        for s in changes:
            since = at if s.action == "demote" else (adjustments.get(s.action_type) or {}).get("history_since")
            evidence = _evidence(s)
            after[s.action_type] = {**adjustment(s.then, s.action + "d", CALIBRATOR, at, evidence),
                                    "history_since": since}
            entries.append(_entry(f"{s.action}-{s.action_type}-v{version + 1}", at,
                                  "autonomy_demoted" if s.action == "demote" else "autonomy_changed",
                                  {"actor": CALIBRATOR, "target": s.action_type, "kind": s.action + "d",
                                   "from": _t(s.effective), "to": _t(s.then), "deployed": _t(s.deployed),
                                   "evidence": evidence, "execution": None, "decided_by": None},
                                  notify=s.action == "demote"))
        versions = _versions(deployed, after)
        if deps.autonomy.replace(version, after, journal + [{**e, "fields": {**e["fields"], "policy": versions}}
                                                            for e in entries]):
            break
    else:
        raise RuntimeError("the autonomy adjustments kept changing under the calibrator; try again")
    if act:
        _, adjustments, _ = deps.autonomy.current()
        in_effect = effective(deployed, adjustments)
        standings = [replace(s, proposal=deps.start_gate(_autonomy_proposal(
            s, thresholds_of(in_effect, s.action_type), in_effect["version"]))) if s.propose else s for s in standings]
        flush(deps)
    return standings


def _autonomy_proposal(s: Standing, basis: Thresholds, version: str) -> dict[str, Any]:
    doc = proposal(s.action_type, s.recommended, basis, version, s.deployed,
                   evidence_lines(s.recommendation.evidence, s.recommended.auto), s.recommendation.reason)
    # one review per (type, target, basis): a later run proposing the same change joins it
    doc["idempotency_key"] = "autonomy-" + canonical.sha256(doc["action"]["parameters"])[:40]
    return doc


def _evidence(s: Standing) -> dict[str, Any]:
    d = s.drift
    line = next((e for e in s.recommendation.evidence if e.threshold == s.effective.auto), None)
    return {"decisions": s.decisions, "reason": s.recommendation.reason,
            "drift": {"window": d.n, "overrides": d.overrides, "lower_bound": round(d.lower, 6), "since": d.since},
            "at_threshold": None if line is None else {"n": line.n, "overrides": line.overrides,
                                                       "upper_bound": round(line.upper, 6)}}


def _versions(deployed: dict[str, Any], adjustments: dict[str, Any]) -> dict[str, str]:
    return {"deployed_version": deployed["version"], "version": effective(deployed, adjustments)["version"]}


def _entry(change_id: str, at: str, event: str, fields: dict[str, Any], notify: bool = False) -> dict[str, Any]:
    return {"change_id": change_id, "stream": f"{STREAM_PREFIX}{at[:10].replace('-', '/')}/{change_id}",
            "event": event, "fields": fields, "notify": notify}


def apply_approved(final_action: dict[str, Any], execution_arn: str, decided_by: str | None,
                   deps: Any) -> str | None:
    """Apply an approved ``policy.autonomy`` change; return why it was not applied, or None.

    It applies only if the thresholds in effect are still the ones it was proposed against (a
    demotion or another change since then wins), and only once however often Conclude retries."""
    params = final_action["parameters"]
    target = params["action_type"]
    change_id = "approved-" + execution_arn.rsplit(":", 1)[-1]
    for _ in range(5):
        version, adjustments, journal = deps.autonomy.current()
        if (adjustments.get(target) or {}).get("by") == execution_arn:
            break                                           # applied by an earlier attempt
        deployed = checked_document(deps.load_policy())
        if target not in deployed["action_types"] or target == AUTONOMY:
            return f"not applied: {target} is not an action type of the deployed policy"
        now = thresholds_of(effective(deployed, adjustments), target)
        basis = params["basis"]
        if _t(now) != {"auto_approve_threshold": basis["auto_approve_threshold"],
                       "veto_threshold": basis["veto_threshold"]}:
            return (f"not applied: {target}'s thresholds changed since this was proposed "
                    f"(now {_t(now)}); the calibrator will propose again from the current state")
        veto = params.get("veto_threshold")
        to = Thresholds(params["auto_approve_threshold"],
                        veto if veto is not None and veto < params["auto_approve_threshold"] else None)
        at = now_iso()
        evidence = {"execution": execution_arn, "decided_by": decided_by}
        after = {**adjustments, target: {**adjustment(to, "approved", execution_arn, at, evidence),
                                         "history_since": (adjustments.get(target) or {}).get("history_since")}}
        entry = _entry(change_id, at, "autonomy_changed", {
            "actor": "system:conclude", "target": target, "kind": "approved", "from": _t(now), "to": _t(to),
            "deployed": _t(thresholds_of(deployed, target)), "evidence": evidence,
            "execution": execution_arn, "decided_by": decided_by, "policy": _versions(deployed, after)})
        if deps.autonomy.replace(version, after, journal + [entry]):
            break
    else:
        raise RuntimeError("the autonomy adjustments kept changing; Conclude retries")
    flush(deps)
    return None


def flush(deps: Any) -> int:
    """Append every journalled change to the trail (once each), tell the reviewers of a demotion,
    then drop the entries from the journal. Returns how many were flushed."""
    version, adjustments, journal = deps.autonomy.current()
    if not journal:
        return 0
    in_effect = effective(checked_document(deps.load_policy()), adjustments)
    for entry in journal:
        audit.append(deps.audit, entry["stream"], entry["event"], entry["fields"], event_key=entry["event"])
        if entry["notify"]:
            deps.once(f"autonomy-notice/{entry['change_id']}", lambda e=entry: _tell_reviewers(e, in_effect, deps))
    done = {e["change_id"] for e in journal}
    for _ in range(5):
        if deps.autonomy.replace(version, adjustments, [e for e in journal if e["change_id"] not in done]):
            break
        version, adjustments, journal = deps.autonomy.current()
    return len(done)


def _tell_reviewers(entry: dict[str, Any], in_effect: dict[str, Any], deps: Any) -> None:
    f = entry["fields"]
    rules = rules_for(in_effect, f["target"], list(deps.reviewers))
    people = sorted({r for tier in rules.tiers for r in tier["reviewers"]} | set(rules.reviewers))
    drift = f["evidence"]["drift"]
    body = (f"Countersign demoted {f['target']}: every proposal of this type now goes to a human.\n\n"
            f"Recent spot checks in the auto zone: {drift['overrides']} overrides in {drift['window']} "
            f"(99% lower bound {drift['lower_bound']:.4f}, above the target). It was auto-approving from "
            f"{f['from']['auto_approve_threshold']:g}.\nNothing is needed from you: a new calibrated threshold "
            "will come to you as a policy.autonomy review once the history supports one.\n")
    for reviewer in people:
        deps.notifier.send(reviewer, f"Countersign: {f['target']} demoted to human review", body)


def summary(s: Standing) -> dict[str, Any]:
    """One standing as JSON (the calibrator function's answer, ``countersign calibrate --json``)."""
    d = s.drift
    return {"action_type": s.action_type, "deployed": _t(s.deployed), "effective": _t(s.effective),
            "recommended": _t(s.recommended), "action": s.action, "then": _t(s.then), "proposed": s.propose,
            "proposal": s.proposal,
            "decisions": s.decisions, "reason": s.recommendation.reason,
            "drift": {"window": d.n, "overrides": d.overrides, "lower_bound": round(d.lower, 6), "demote": d.demote},
            "evidence": [{"threshold": e.threshold, "n": e.n, "overrides": e.overrides, "upper_bound": round(e.upper, 6)}
                         for e in s.recommendation.evidence]}
