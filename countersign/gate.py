"""The approval gate's workflow steps: prepare, request a review, dispatch a decision, conclude.

Each function is what one Lambda does, minus the event parsing; ``Deps`` carries the adapters.
Routing is not here: the workflow's Choice state decides, and these steps only act on its choice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from . import audit
from .audit import AuditStore
from .case import Case, Execution, new_review_id
from .links import Mac, review_url, sign
from .notify import Notifier, review_email, subject
from .policy import escalation_reason
from .proposal import InvalidProposal, check
from .reviews import DECIDED, DISPATCHED, EXPIRED, PENDING, Review, ReviewStore


@dataclass
class Deps:
    audit: AuditStore
    audit_bucket: str = ""
    reviews: ReviewStore | None = None
    mac: Mac | None = None
    notifier: Notifier | None = None
    callbacks: Any = None
    load_policy: Callable[[], dict[str, Any]] | None = None
    reviewers: tuple[str, ...] = ()
    review_base_url: str = ""
    clock: Callable[[], float] = time.time


def prepare(proposal: Any, execution: dict[str, str], deps: Deps) -> dict[str, Any]:
    """Validate the proposal and attach its rules; a refusal is audited and returned, not raised,
    so the workflow's Choice state can end the execution on it."""
    ex = Execution(execution["Id"], execution["Name"], execution["StartTime"])
    try:
        rules = check(proposal, deps.load_policy(), list(deps.reviewers))
    except InvalidProposal as exc:
        audit.append(deps.audit, ex.audit_stream, "refused_request", {
            "execution": {"arn": ex.arn, "name": ex.name, "started_at": ex.started_at},
            "actor": "system:prepare", "reason": "invalid proposal", "errors": exc.errors,
        })
        return {"refusal": {"reason": "invalid proposal", "errors": exc.errors}}
    case = Case(proposal, rules, ex, new_review_id(), route="received")
    audit.append(deps.audit, ex.audit_stream, "proposal_received",
                 {**case.audit_fields(), "actor": "system:prepare", "proposal": proposal})
    return case.to_state()


def request_review(state: dict[str, Any], task_token: str, deps: Deps) -> dict[str, Any]:
    """Store the pending review (the token stays in DynamoDB), mail each reviewer their own link."""
    case = Case.from_state({**state, "route": "human_review"})
    deadline = int(deps.clock()) + case.rules.review_timeout_seconds
    reason = escalation_reason(case.confidence, case.rules)
    review = Review(case.review_id, PENDING, case, case.rules.reviewers, deadline, reason, task_token)
    deps.reviews.create(review)
    for reviewer in review.reviewers:
        token = sign(deps.mac, case.review_id, reviewer, deadline)
        url = review_url(deps.review_base_url, case.review_id, token)
        deps.notifier.send(reviewer, subject(case), review_email(case, reason, url, deadline))
    record = audit.append(deps.audit, case.execution.audit_stream, "review_requested", {
        **case.audit_fields(), "actor": "system:request", "reason": reason,
        "reviewers": list(review.reviewers), "deadline": deadline,
    })
    return {"review_id": case.review_id, "notified": list(review.reviewers), "audit_seq": record["seq"]}


def dispatch(review: Review, deps: Deps) -> str:
    """Audit a decision, then hand it to the waiting workflow. Safe to run again: the audit
    append is idempotent and a dispatched review is skipped. Returns what happened."""
    if review.status != DECIDED or review.decision is None:
        return "skipped"
    current = deps.reviews.get(review.review_id)
    if current is not None and current.status == DISPATCHED:
        return "duplicate"   # a redelivered stream record: the workflow already has this decision
    case, decision = Case.from_state({**review.case.to_state(), "route": "human_review"}), review.decision
    stream = case.execution.audit_stream
    audit.append(deps.audit, stream, "decision_recorded", {
        **case.audit_fields(), "actor": f"reviewer:{decision.reviewer}", "reviewer": decision.reviewer,
        "decision": decision.outcome, "rationale": decision.rationale, "diff": decision.diff,
        "decided_at": decision.decided_at, "final_action": decision.final_action,
    })
    delivered = deps.callbacks.deliver(review.task_token, decision)
    if not delivered:
        audit.append(deps.audit, stream, "late_decision", {
            **case.audit_fields(), "actor": "system:dispatcher", "reviewer": decision.reviewer,
            "decision": decision.outcome,
            "note": "the workflow had already timed out; this decision changed nothing",
        })
    deps.reviews.transition(review.review_id, DECIDED, DISPATCHED)
    return "delivered" if delivered else "late"


def conclude(state: dict[str, Any], mode: str, deps: Deps) -> dict[str, Any]:
    """Write the closing audit record and return the verdict, the execution's output."""
    route = "auto" if mode == "auto" else "human_review"
    case = Case.from_state({**state, "route": route})
    stream = case.execution.audit_stream
    reviewers: list[dict[str, Any]] = []
    rationale = None
    if mode == "auto":
        outcome, final_action, event = "auto_approved", case.action, "auto_approved"
    elif mode == "expired":
        deps.reviews.transition(case.review_id, PENDING, EXPIRED)
        outcome, final_action, event = "expired", None, "expired"
    else:
        decision = deps.reviews.get(case.review_id).decision
        outcome, final_action, event = decision.outcome, decision.final_action, "verdict_issued"
        rationale = decision.rationale
        reviewers = [{"id": decision.reviewer, "decision": decision.outcome,
                      "rationale": decision.rationale, "decided_at": decision.decided_at}]
    record = audit.append(deps.audit, stream, event, {
        **case.audit_fields(), "actor": "system:conclude", "outcome": outcome,
        "final_action": final_action,
        **({"note": "no decision before the deadline: refused (fail closed)"} if mode == "expired" else {}),
    })
    return {
        "outcome": outcome,
        "final_action": final_action,
        "reviewers": reviewers,
        "rationale": rationale,
        "route": route,
        "policy_version": case.rules.version,
        "review_id": case.review_id if route == "human_review" else None,
        "audit": {"bucket": deps.audit_bucket, "stream": stream, "records": record["seq"],
                  "head": record["hash"]},
    }
