"""The workflow's closing steps: settle what happens, then conclude with the verdict.

``settle`` runs in the states after routing or a gate. The review item is the one arbiter: a
timeout branch first tries PENDING → EXPIRED, and when a decision won the review first, it
follows that decision exactly as ``Decided`` would. Modes: ``auto``, ``decided``, and the
timeout branches ``unvetoed`` (veto window), ``kept`` (reverse window), ``expired`` (sign-off)
and ``escalate`` (a tier's deadline: ask the next tier, or refuse after the last). Settling
returns the case with ``settled``: the outcome, the executor phase to ``run`` (if any), which
the workflow runs as its own task, and for a verdict that lets the action proceed its signed
``receipt`` (``evidence.receipts``), also handed to the executor. ``conclude`` then audits what the executor did and
the verdict, and returns the verdict (the execution's output). Every write is idempotent: a
retried step re-reads the same review and appends nothing twice.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from countersign.evidence import audit
from countersign.workflow.canary import caught
from countersign.workflow.announce import VERDICT_ISSUED, announce
from countersign.workflow.case import Case
from countersign.adapters.deps import Deps
from countersign.review.reviews import EXPIRED, SETTLED, Review
from countersign.rules.policy import AUTONOMY
from countersign.rules.routing import KILL_HALT, KILL_HUMAN, KILL_MODES, ROUTE_OF_MODE

TIMEOUT_ROUTE = {"unvetoed": "veto_window", "kept": "post_hoc", "expired": "post_execution",
                 "escalate": "human_review"}
EXPIRED_NOTE = "no decision before the deadline: refused (fail closed)"


def settle(state: dict[str, Any], mode: str, deps: Deps, hold_allowed: bool = True) -> dict[str, Any]:
    """Settle the case, then apply the kill switch, read here at every step where an action would
    proceed (Art. 14(4)(e)): ``halt`` refuses what would run, ``human`` holds for a human what
    would proceed without one. What still proceeds after that gets its receipt."""
    return _receipted(_stop_button(_settle(state, mode, deps), mode, deps, hold_allowed), deps)


def _receipted(done: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """Sign the receipt of a verdict that lets the action proceed, into the verdict and the
    executor's task; deciders are named as the audit trail names them."""
    settled = done.get("settled")
    if settled is None or deps.receipts is None:
        return done
    from countersign.evidence import receipts       # Conclude's alone: the other steps need not load it
    if settled["outcome"] not in receipts.PROCEEDS:
        return done
    case = Case.from_state(done)
    receipt = deps.receipts.issue(
        review_id=settled["review_id"], execution_arn=case.execution.arn, proposal_sha256=case.proposal_sha256,
        final_action=settled["final_action"], outcome=settled["outcome"],
        deciders=[case.named(r["id"]) for r in settled["reviewers"]], policy_version=case.rules.version,
        now=datetime.fromtimestamp(deps.clock(), timezone.utc))
    run = {"run": {**settled["run"], "receipt": receipt}} if settled.get("run") else {}
    return {**done, "settled": {**settled, "receipt": receipt, **run}}


def _stop_button(done: dict[str, Any], mode: str, deps: Deps, hold_allowed: bool) -> dict[str, Any]:
    switch = deps.load_kill_switch()
    switch = switch if switch in KILL_MODES else KILL_HALT          # an unknown value fails closed
    settled = done.get("settled")
    if switch == KILL_HUMAN and hold_allowed and mode in ("auto", "unvetoed") and settled["outcome"] == "auto_approved":
        case = Case.from_state(done)     # it would proceed with no human: a human sees it first
        held = Case.from_state({**done, "review_id": case.execution.review_id(0, "hold"), "current_tier": {"index": 0},
                                "facts": {**case.facts, "kill_switch": KILL_HUMAN}})
        return {**held.to_state(), "hold": True}
    if switch != KILL_HALT:
        return done
    if settled is None:                  # an escalation to the next tier: no further tier is asked
        settled = {"route": "human_review", "reviewers": [], "outcome": "escalate"}
    run = settled.get("run") or {}
    proceeds = run.get("phase") in ("execute", "promote", "compensate") or (
        not run and settled["outcome"] in ("auto_approved", "approved", "modified", "escalate")
        and settled["route"] != "post_hoc")                       # post-hoc without a run: it ran already
    if not proceeds:
        return done
    case = Case.from_state({**done, "route": settled["route"]})
    return _settled(done, case, "halted", None, run=_plan(case, "discard", case.action) if run.get("phase") == "promote"
                    else None, reviewers=settled.get("reviewers"), rationale=settled.get("rationale"),
                    reason=settled.get("reason"), decided_by=settled.get("decided_by"),
                    note="the kill switch is on (halt): nothing more runs; a staged result is discarded, and a "
                         "recorded decision stays on the record without being carried out")


def _settle(state: dict[str, Any], mode: str, deps: Deps) -> dict[str, Any]:
    if mode == "auto":
        case = Case.from_state({**state, "route": "auto"})
        return _settled(state, case, "auto_approved", case.action, run=_plan(case, "execute", case.action))
    case = Case.from_state({**state, "route": TIMEOUT_ROUTE.get(mode, "human_review")})
    review = deps.reviews.get(case.review_id) if mode == "decided" else deps.reviews.expire(case.review_id)
    if review is not None and review.status in SETTLED:
        return _follow(state, review, deps, by_timer=mode != "decided")   # a decision won the write
    if review is None or review.status != EXPIRED:  # called back with no stored decision: fail closed
        raise RuntimeError(f"review {case.review_id} holds no decision ({review.status if review else 'missing'})")
    record_votes(review, deps)     # approvals that did not reach the quorum in time
    if mode == "unvetoed":
        return _settled(state, case, "auto_approved", case.action, run=_plan(case, "execute", case.action),
                        note="the veto window closed without a veto: the action proceeds")
    if mode == "kept":
        return _settled(state, case, "auto_approved", case.action, execution=case.executed,
                        note="the reverse window closed: the executed action stands")
    if mode == "expired":          # staged but never signed off: roll it back
        return _settled(state, case, "expired", None, run=_plan(case, "discard", case.action), note=EXPIRED_NOTE)
    return _escalate(state, case, review, deps)


def _escalate(state: dict[str, Any], case: Case, review: Review, deps: Deps) -> dict[str, Any]:
    """A tier's deadline passed with nothing decided: ask the next tier (a new review), or report
    that every tier was asked and refuse the action."""
    tier = case.current_tier
    audit.append(deps.audit, case.execution.audit_stream, "escalated", case.record({
        "actor": "system:escalate", "from_tier": tier["index"] + 1,
        "to_tier": None if tier["last"] else tier["index"] + 2, "votes": list(review.votes),
        "note": "every tier was asked; the action will be refused" if tier["last"] else "asking the next tier",
    }), event_key=f"escalated.{case.review_id}")
    if tier["last"]:
        return _settled(state, case, "expired", None, note=EXPIRED_NOTE)
    index = tier["index"] + 1
    return Case.from_state({**state, "review_id": case.execution.review_id(index),
                            "current_tier": {"index": index}}).to_state()


def _follow(state: dict[str, Any], review: Review, deps: Deps, by_timer: bool = False) -> dict[str, Any]:
    """Settle on a stored decision, in the mode of the review it was made in."""
    record_decision(review, deps)
    decision, mode = review.decision, review.mode
    case = Case.from_state({**state, "route": ROUTE_OF_MODE[mode], "review_id": review.review_id})
    approved = decision.outcome in ("approved", "modified")
    if mode == "signoff":          # post-execution review: promote the staged result, or discard it
        outcome, final, run = (decision.outcome if approved else "rejected", decision.final_action,
                               _plan(case, "promote" if approved else "discard", case.action))
    elif mode == "reverse":        # HOTL post-hoc: keep the executed action, or run the compensation
        outcome, final = ("approved", case.action) if approved else ("reversed", None)
        run = None if approved else _plan(case, "compensate", case.action, case.rules.compensation)
    elif approved:
        outcome, final, run = decision.outcome, decision.final_action, _plan(case, "execute", decision.final_action)
    else:
        outcome, final, run = ("vetoed" if mode == "veto" else "rejected"), None, None
    reviewers = [{"id": v["reviewer"], "decision": outcome if v["decision"] == decision.outcome else v["decision"],
                  "rationale": v["rationale"], "decided_at": v["decided_at"]} for v in decision.all_votes()]
    return _settled(state, case, outcome, final, run=run, execution=case.executed if mode == "reverse" else None,
                    reviewers=reviewers, rationale=decision.rationale, reason=decision.reason,
                    decided_by=decision.reviewer,
                    note="decided before the deadline; the workflow's timer fired before the callback, and the "
                         "stored decision was followed" if by_timer else None)


def _settled(state: dict[str, Any], case: Case, outcome: str, final_action: Any, *, run: dict | None = None,
             execution: dict | None = None, note: str | None = None, reviewers: list | None = None,
             rationale: str | None = None, reason: str | None = None,
             decided_by: str | None = None) -> dict[str, Any]:
    settled = {"outcome": outcome, "final_action": final_action, "route": case.route, "note": note,
               "review_id": case.review_id if case.route != "auto" else None, "reviewers": reviewers or [],
               "rationale": rationale, "reason": reason, "decided_by": decided_by, "execution": execution}
    if run:
        settled["run"] = run
    return {**case.to_state(), "settled": settled}


def _plan(case: Case, phase: str, action: Any, function: str | None = None) -> dict[str, Any] | None:
    """The executor task the workflow runs next: which function, which phase, with which action,
    under an idempotency key the executor must honour (one per execution, review and phase), and
    with the verdict's receipt once ``_receipted`` signs one (None for a phase nobody approved)."""
    function = function or case.rules.executor
    if not function:
        return None                                     # no executor: the caller acts on the verdict
    return {"function": function, "phase": phase, "action": action, "staged": (case.executed or {}).get("result"),
            "idempotency_key": f"{case.execution.arn}/{case.review_id}/{phase}", "receipt": None}


def conclude(state: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """Audit what the executor did and the verdict; return the verdict."""
    settled = state.get("settled")
    if settled is None:   # straight from Route (HOOTL, nothing to execute), or a pre-review executor failed
        settled = _failed_before_review(state) if state.get("action_error") else \
            settle(state, "auto", deps, hold_allowed=False)["settled"]
    case = Case.from_state({**state, "route": settled["route"]})
    execution = settled.get("execution")
    if settled.get("run") or state.get("action_error"):
        run = settled.get("run") or {"phase": settled["failed_phase"], "function": case.rules.executor}
        execution = _executed(run, state.get("action_result"), state.get("action_error"))
        record_execution(case, execution, deps)
    outcome = settled["outcome"]
    if case.rules.action_type == AUTONOMY and outcome in ("approved", "modified"):
        from countersign.workflow.calibrator import apply_approved

        refused = apply_approved(settled["final_action"], case.execution.arn, settled.get("decided_by"), deps)
        settled = {**settled, "note": refused} if refused else settled
    event = {"auto_approved": "auto_approved", "expired": "expired"}.get(outcome, "verdict_issued")
    record = audit.append(deps.audit, case.execution.audit_stream, event, case.record({
        "actor": "system:conclude", "outcome": outcome,
        "final_action": settled["final_action"], "decided_by": settled.get("decided_by"),
        "reviewers": settled["reviewers"], "rationale": settled.get("rationale"),
        **({"note": settled["note"]} if settled.get("note") else {}),
        **({"execution_result": execution} if execution else {}),
        **({"receipt_sha256": hashlib.sha256(settled["receipt"].encode("ascii")).hexdigest()}
           if settled.get("receipt") else {}),
    }))
    announce(deps.events, VERDICT_ISSUED, record)
    return {
        "outcome": outcome,
        "final_action": settled["final_action"],
        "reviewers": settled["reviewers"],
        "rationale": settled.get("rationale"),
        "reason": settled.get("reason"),      # the reason category of a modification or rejection
        "route": settled["route"],
        "policy_version": case.rules.version,
        "proposal_sha256": case.proposal_sha256,
        "submitted_by": case.facts.get("submitted_by"),   # the IAM principal, on the authenticated submit path
        "review_id": settled.get("review_id"),
        "receipt": settled.get("receipt"),   # signed, for a verdict that lets the action proceed
        "execution": execution,
        "audit": {"bucket": deps.audit_bucket, "stream": case.execution.audit_stream,
                  "records": record["seq"], "head": record["hash"]},
    }


def time_to_decision(state: dict[str, Any], verdict: dict[str, Any]) -> float | None:
    """Seconds from the proposal's arrival (the execution's start) to the human decision the
    verdict follows; None when no human decided."""
    from datetime import datetime

    decided = [r["decided_at"] for r in verdict["reviewers"] if r.get("decided_at")]
    if not decided:
        return None
    at = lambda iso: datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()  # noqa: E731
    return round(max(at(d) for d in decided) - at(state["execution"]["started_at"]), 3)


def _failed_before_review(state: dict[str, Any]) -> dict[str, Any]:
    """The executor failed while staging (post-execution review) or executing first (post-hoc),
    so no human was asked: the verdict is ``failed``, with what the executor said."""
    staging = bool(state["policy"].get("post_execution_review"))
    return {"outcome": "failed", "final_action": None, "route": "post_execution" if staging else "post_hoc",
            "review_id": state.get("review_id"), "reviewers": [], "failed_phase": "stage" if staging else "execute",
            "note": "the executor failed before any reviewer was asked; nothing was promoted or kept"}


def _executed(run: dict[str, Any], result: dict | None, error: dict | None) -> dict[str, Any]:
    done = {"phase": run["phase"], "function": run["function"]}
    if error is None:
        return {**done, "status": "succeeded", "result": (result or {}).get("result")}
    cause = error.get("Cause") or ""
    try:
        cause = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        pass
    return {**done, "status": "failed", "error": error.get("Error", "Error"), "message": str(cause)[:1000]}


def record_execution(case: Case, done: dict[str, Any], deps: Deps) -> None:
    """Audit one executor phase once (``action_executed`` or ``execution_failed``)."""
    event = "action_executed" if done["status"] == "succeeded" else "execution_failed"
    audit.append(deps.audit, case.execution.audit_stream, event, case.record({"actor": "system:executor", **done}),
                 event_key=f"executor.{case.review_id}.{done['phase']}")


def record_votes(review: Review, deps: Deps) -> None:
    """Audit each approval counted towards a quorum (``vote_recorded``), once per reviewer and in
    the order counted. The dispatcher writes them from the review table's stream as each is
    counted (the reviewer's POST does not wait for it); a decision's or an escalation's audit
    writes any still missing first, so one whose stream delivery failed for good is not lost."""
    quorum = review.case.rules.quorum
    votes = review.decision.all_votes() if review.decision else list(review.votes)
    if quorum < 2 or not votes:
        return
    stream = review.case.execution.audit_stream
    present = {r["event_key"] for r in audit.read_stream(deps.audit, stream)}
    approvals = 0
    for vote in votes:
        if vote["decision"] == "rejected":      # a rejection decides: it is the decision's record
            continue
        approvals += 1
        key = f"vote_recorded.{review.review_id}.{review.case.named(vote['reviewer'])}"
        if key not in present:
            audit.append(deps.audit, stream, "vote_recorded", review.case.record({
                "actor": f"reviewer:{vote['reviewer']}", **vote, "approvals": approvals, "quorum": quorum}),
                event_key=key)


def record_decision(review: Review, deps: Deps) -> dict[str, Any]:
    """Audit a stored decision once per review (the dispatcher and the workflow both make sure),
    after the votes that led to it."""
    record_votes(review, deps)
    case, decision = review.case, review.decision
    return audit.append(deps.audit, case.execution.audit_stream, "decision_recorded", case.record({
        "actor": f"reviewer:{decision.reviewer}", "reviewer": decision.reviewer,
        "mode": review.mode, "decision": decision.outcome, "reason": decision.reason, "rationale": decision.rationale,
        "votes": decision.all_votes(), "diff": decision.diff, "decided_at": decision.decided_at,
        "rendered_at": decision.rendered_at, "dwell_seconds": decision.dwell_seconds,
        "final_action": decision.final_action,
        **({"caught": caught(decision.outcome)} if case.canary else {}),   # a canary is scored
    }), event_key=f"decision_recorded.{review.review_id}")
